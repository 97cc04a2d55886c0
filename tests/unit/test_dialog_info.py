"""What BLF keys are told (RFC 4235 dialog-info): the documents, a park slot's dialog, and an
extension's dialogs read from real calls stepped by hand (ringing, answered, hung up)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from softswitch.b2bua.actions import Device, Locality, MediaPorts, Phase, Stage
from softswitch.b2bua.call import Call
from softswitch.b2bua.parking import CallPark
from softswitch.b2bua.record import CallRecord
from softswitch.park.lot import Parked
from softswitch.presence.dialog_info import (
    CONFIRMED,
    EARLY,
    TERMINATED,
    DialogView,
    Party,
    dialog_info,
    extension_dialogs,
    lamp,
    news,
    slot_dialogs,
)
from softswitch.sdp.offer_answer import RelayPorts
from softswitch.sip.transaction import Target

from .test_call_core import A_SRC, Tx, answer_to, fork_invites, in_dialog, invite, sdp

NS = "{urn:ietf:params:xml:ns:dialog-info}"
ENTITY = "sip:102@acme.example"


def parsed(body: bytes) -> ET.Element:
    return ET.fromstring(body)


def call_to(stage_extension: str | None = "102", member: str | None = None, devices: int = 1) -> tuple[Call, list]:  # type: ignore[type-arg]
    """101 calls; ``devices`` phones ring for extension 102 (or for a group's ``member``)."""
    ids = itertools.count(1)
    call = Call(
        record=CallRecord("rec1", "acme", "101", "102", "internal", 1000.0), invite=invite(sdp()), tx=Tx("a"), source=A_SRC,
        locality=Locality({"UDP": ("203.0.113.1", 5060)}),
        media=MediaPorts("203.0.113.1", RelayPorts(10000, 10001), RelayPorts(10002, 10003)),
        new_id=lambda: f"id{next(ids)}", new_branch=lambda: f"z9hG4bKb{next(ids)}",
    )
    call.add(CallPark())
    call.extensions["a"] = "101"
    devs = tuple(Device(f"sip:102@10.0.0.{i + 1}:5060", Target("UDP", "198.51.100.1", 6000 + i), f"phone{i}", member=member)
                 for i in range(devices))
    out = call.start([Stage(devs, 30.0, "sip:102@acme.example", "102", extension=stage_extension)], 1000.0)
    return call, fork_invites(out)


# --------------------------------------------------------------------------- documents

def test_a_document_is_full_state_with_escaped_values_and_local_before_remote() -> None:
    view = DialogView("d1", EARLY, "recipient", call_id="c<1>", remote_tag="t&1", local=Party(ENTITY, 'Bob "B"'),
                      remote=Party("sip:101@acme.example", "Ann & Co"), remote_target="sip:101@acme.example")
    root = parsed(dialog_info(ENTITY, 7, [view]))
    assert root.tag == f"{NS}dialog-info"
    assert (root.get("version"), root.get("state"), root.get("entity")) == ("7", "full", ENTITY)
    (dialog,) = root
    assert dialog.attrib == {"id": "d1", "call-id": "c<1>", "remote-tag": "t&1", "direction": "recipient"}
    assert [child.tag for child in dialog] == [f"{NS}state", f"{NS}local", f"{NS}remote"]  # RFC 4235's order
    assert dialog.findtext(f"{NS}state") == "early"
    identity = dialog.find(f"{NS}remote/{NS}identity")
    assert identity is not None and (identity.text, identity.get("display")) == ("sip:101@acme.example", "Ann & Co")
    assert dialog.find(f"{NS}local/{NS}identity").get("display") == 'Bob "B"'  # type: ignore[union-attr]
    assert dialog.find(f"{NS}remote/{NS}target").get("uri") == "sip:101@acme.example"  # type: ignore[union-attr]


def test_lamp_ringing_wins_over_busy_and_busy_over_idle() -> None:
    idle, busy, ringing = DialogView("x", TERMINATED), DialogView("y", CONFIRMED), DialogView("z", EARLY)
    assert lamp([idle]) == TERMINATED and lamp([]) == TERMINATED
    assert lamp([busy, idle]) == CONFIRMED
    assert lamp([busy, ringing]) == EARLY


def test_a_free_slot_is_terminated_and_a_taken_one_confirmed_with_the_parked_party() -> None:
    entity = "sip:*801@acme.example"
    (free,) = slot_dialogs(entity, "*801", None)
    assert free == DialogView("*801", TERMINATED)
    parked = Parked("acme", 801, "rec9", 0.0, 60.0, "102", '"Ann" <sip:101@acme.example>')
    (taken,) = slot_dialogs(entity, "*801", parked)
    assert (taken.state, taken.direction, taken.call_id) == (CONFIRMED, "recipient", "rec9")
    assert taken.remote == Party("sip:101@acme.example", "Ann")
    assert taken.remote_target == entity  # the key pressed calls the slot: a pick-up
    body = dialog_info(entity, 0, [taken]).decode()
    assert "<state>confirmed</state>" in body and "sip:101@acme.example" in body
    # A party that is not a name-addr is shown as it is.
    (odd,) = slot_dialogs(entity, "*801", Parked("acme", 801, "rec9", 0.0, 60.0, "102", "no <uri"))
    assert odd.remote == Party("no <uri")


# --------------------------------------------------------------------------- extensions

def test_ringing_answered_and_hung_up_as_the_callee_and_the_caller_see_it() -> None:
    call, (f0,) = call_to()
    other = call_to()[0]  # another account's call is not passed in: the service filters by account
    assert other.record.account == "acme"
    # Before anyone rings: idle.
    assert extension_dialogs("103", [call], entity="sip:103@acme.example") == (DialogView("103", TERMINATED),)
    # Ringing: 102 is early, a recipient, shown the caller, with the fork's dialog ids as its phone sees them.
    (ringing,) = extension_dialogs("102", [call], entity=ENTITY, display="Bob")
    fork_invite = f0.request
    assert (ringing.state, ringing.direction) == (EARLY, "recipient")
    assert ringing.remote == Party("sip:101@acme.example", "Reception")
    assert ringing.local == Party(ENTITY, "Bob")
    assert (ringing.id, ringing.call_id, ringing.remote_tag) == (fork_invite.call_id, fork_invite.call_id, fork_invite.from_.tag)
    assert ringing.local_tag is None  # the phone's own tag is not known before its 18x
    # The caller rings out: early too, but the initiator, with whom it dialled.
    (calling,) = extension_dialogs("101", [call], entity="sip:101@acme.example")
    assert (calling.state, calling.direction, calling.call_id) == (EARLY, "initiator", "a-call@phone")
    assert calling.remote == Party("sip:102@acme.example") and calling.local_tag == "caller"
    # A 180 tells the phone's own tag: a BLF key then has both tags for its INVITE with Replaces.
    call.on_response(f0.ref, answer_to(f0.request, 180, "t0"), 1001.0)
    (early,) = extension_dialogs("102", [call], entity=ENTITY, display="Bob")
    assert early.local_tag == "t0" and early.state == EARLY and early.id == ringing.id
    assert not news((early,), (ringing,))  # its tag alone is no news: no second NOTIFY a moment after the first
    # Answered: both confirmed; 102's dialog keeps its id and now has both tags.
    call.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    assert call.phase is Phase.ANSWERED
    (talking,) = extension_dialogs("102", [call], entity=ENTITY)
    assert (talking.state, talking.direction, talking.id) == (CONFIRMED, "recipient", ringing.id)
    assert (talking.local_tag, talking.remote_tag) == ("t0", fork_invite.from_.tag)
    assert talking.remote == Party("sip:101@acme.example", "Reception")
    (caller,) = extension_dialogs("101", [call], entity="sip:101@acme.example")
    assert (caller.state, caller.direction) == (CONFIRMED, "initiator")
    assert caller.remote == Party("sip:102@acme.example")
    body = dialog_info(ENTITY, 2, [talking]).decode()
    assert "<state>confirmed</state>" in body
    # Hung up: idle again.
    call.on_request("b", Tx("bye"), in_dialog(call, "b", "BYE", 5), 1010.0)
    assert call.phase in (Phase.ENDED,)  # (mypy keeps the narrowing from the assert above)
    assert extension_dialogs("102", [call], entity=ENTITY) == (DialogView("102", TERMINATED),)
    assert extension_dialogs("101", [call], entity=ENTITY) == (DialogView("101", TERMINATED),)


def test_every_ringing_device_is_a_dialog_and_a_cancelled_one_is_not() -> None:
    call, forks = call_to(devices=2)
    both = extension_dialogs("102", [call], entity=ENTITY)
    assert [d.call_id for d in both] == [f.request.call_id for f in forks] and lamp(both) == EARLY
    call.forks[1].cancel_wanted = True  # e.g. answered elsewhere, its CANCEL on its way
    (left,) = extension_dialogs("102", [call], entity=ENTITY)
    assert left.call_id == forks[0].request.call_id


def test_a_group_member_rings_for_itself_and_on_a_call_while_another_call_rings_it() -> None:
    first, (f0,) = call_to(stage_extension=None, member="104")  # a group rang 104's phone
    (ringing,) = extension_dialogs("104", [first], entity="sip:104@acme.example")
    assert ringing.state == EARLY
    assert extension_dialogs("102", [first], entity=ENTITY) == (DialogView("102", TERMINATED),)
    first.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    assert first.extensions["b"] == "104"
    second, _ = call_to(stage_extension=None, member="104")
    states = extension_dialogs("104", [first, second], entity="sip:104@acme.example")
    assert [d.state for d in states] == [CONFIRMED, EARLY] and lamp(states) == EARLY
