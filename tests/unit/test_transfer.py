"""Transfers in the pure call core, against the public leg API: blind (REFER to a number,
NOTIFY sipfrag, the transferee rung through to the target, the transferor let go), a target
that does not answer (the transferee given back, or the transferor rung back), and
attended (REFER with Replaces: the far end of the transferor's other call joins)."""

from __future__ import annotations

from softswitch.b2bua.actions import (
    BindDialog,
    CallEnded,
    Detach,
    Device,
    Phase,
    Play,
    SendRaw,
    SendRequest,
    SetMedia,
    Stage,
    StopPlaying,
    TransferFailed,
    TransferWanted,
)
from softswitch.b2bua.call import Call
from softswitch.b2bua.parking import CallPark
from softswitch.b2bua.transfer import Transfer, refer_to
from softswitch.sdp.model import parse_sdp
from softswitch.sip.headers import Replaces
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import Target

from .test_call_core import Tx, answer_to, answered_call, fork_invites, in_dialog, of, responses, sdp

TARGET = Device("sip:104@10.0.0.4:5060", Target("UDP", "10.0.0.4", 5060), "desk", member=None)
TRANSFEROR = Device("sip:102@10.0.0.1:5060", Target("UDP", "10.0.0.1", 5060), "Yealink")


def refer(call: Call, leg: str, cseq: int, refer_to_uri: str) -> Request:
    req = in_dialog(call, leg, "REFER", cseq)
    head = bytes(req).decode().replace(
        "Content-Length: 0", f"Refer-To: <{refer_to_uri}>\r\nReferred-By: <sip:102@acme.example>\r\nContent-Length: 0")
    msg = parse_message(head.replace("\r\n\r\n\r\n", "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def transfer_of(call: Call) -> Transfer:
    """The call's transfer feature; its park feature takes only the park code (as the service sets it)."""
    park = call.feature(CallPark)
    assert park is not None
    park.codes = lambda extension, target: target == "*85"
    return call.feature(Transfer) or call.add(Transfer())


def blind_call() -> tuple[Call, list]:  # type: ignore[type-arg]
    """A (leg a, 101) and B (leg b, 102) talk; B blind-transfers A to 104, which rings."""
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    call.extensions.update(a="101", b="102")
    transfer_of(call)
    out = call.on_request("b", Tx("refer"), refer(call, "b", 5, "sip:104@acme.example"), 1010.0)
    assert of(out, TransferWanted) == [TransferWanted("a", "b", "104")] and responses(out) == []
    out = transfer_of(call).blind(call, [Stage((TARGET,), 20.0, "sip:104@acme.example", "104", "104")], 1010.0)
    return call, out


def test_blind_transfer_rings_the_target_for_the_transferee_and_lets_the_transferor_go() -> None:
    call, out = blind_call()
    (accepted,) = responses(out)
    assert accepted.status == 202
    notify = next(s.request for s in of(out, SendRequest) if s.request.method == "NOTIFY")
    assert notify.body == b"SIP/2.0 100 Trying\r\n" and notify.get("Event") == "refer"
    assert notify.get("Subscription-State") == "active;expires=60"
    assert Detach("b") in out and Play("a", 0) in out and call.phase is Phase.TRANSFERRING
    (fork,) = fork_invites(out)
    invite = fork.request
    assert str(invite.uri) == "sip:104@10.0.0.4:5060"
    assert invite.from_.display_name == "Reception" and str(invite.from_.uri) == "sip:101@acme.example"
    assert invite.get("P-Asserted-Identity") == "Reception <sip:101@acme.example>"
    assert invite.get("Referred-By") == "<sip:102@acme.example>"
    offer = parse_sdp(invite.body)
    assert offer.media[0].line.port == 10002  # the transferor's relay port, now the target's
    # The target answers: it takes the leg, the transferee is told (re-INVITE with its identity).
    out = call.on_response(fork.ref, answer_to(invite, 200, "t4", sdp("10.0.0.4", 6000), "<sip:104@10.0.0.4:5060>"), 1015.0)
    assert SetMedia("b", ("10.0.0.4", 6000), 101) in out and StopPlaying("a") in out
    sends = {s.request.method: s for s in of(out, SendRequest)}
    assert set(sends) == {"INVITE", "NOTIFY", "BYE"}
    reinvite = sends["INVITE"].request
    assert reinvite.call_id == "a-call@phone" and reinvite.get("P-Asserted-Identity") == "<sip:104@acme.example>"
    assert parse_sdp(reinvite.body).media[0].line.port == 10000  # the transferee keeps its relay port
    done = sends["NOTIFY"].request
    assert done.body == b"SIP/2.0 200 OK\r\n" and done.get("Subscription-State") == "terminated;reason=noresource"
    assert sends["BYE"].target == Target("UDP", "198.51.100.1", 6000) and "Call transferred" in (sends["BYE"].request.get("Reason") or "")
    assert call.phase is Phase.ANSWERED
    # The transferee's answer; then the target's BYE ends the call with the story told.
    call.on_response(sends["INVITE"].ref, answer_to(reinvite, 200, "caller", sdp(), "<sip:101@192.168.1.10:5070>"), 1015.1)
    story = [(p.who, p.role, p.by) for p in call.record.parties]
    assert story == [("101", "caller", None), ("102", "callee", None), ("104", "blind transfer", "102")]
    assert [(p.joined, p.left) for p in call.record.parties][:2] == [(1002.0, None), (1002.0, 1010.0)]


def test_the_transferors_late_bye_is_answered_and_ends_nothing() -> None:
    call, out = blind_call()
    bye = in_dialog(call, "a", "BYE", 3)  # shape only: routed to the set-aside leg by the service
    answered = call.on_request("transferor", Tx("bye"), bye, 1011.0)
    assert [r.status for r in responses(answered)] == [200] and not of(answered, CallEnded)
    assert call.phase is Phase.TRANSFERRING


def test_a_target_that_does_not_answer_gives_the_transferee_back_to_a_transferor_still_there() -> None:
    call, out = blind_call()
    (fork,) = fork_invites(out)
    out = call.on_response(fork.ref, answer_to(fork.request, 486, "t4"), 1012.0)
    notify = next(s.request for s in of(out, SendRequest) if s.request.method == "NOTIFY")
    assert notify.body == b"SIP/2.0 486 Busy Here\r\n"
    assert StopPlaying("a") in out and BindDialog(call.b.key, "b") in out  # type: ignore[union-attr]
    assert SetMedia("b", ("10.0.0.1", 5000), 101) in out and call.phase is Phase.ANSWERED
    # The two are talking again: B's BYE ends the call.
    out = call.on_request("b", Tx("bye"), in_dialog(call, "b", "BYE", 6), 1020.0)
    assert of(out, CallEnded)


def test_a_target_that_does_not_answer_after_the_transferor_left_rings_the_transferor_back() -> None:
    call, out = blind_call()
    (fork,) = fork_invites(out)
    call.on_request("transferor", Tx("bye"), in_dialog(call, "a", "BYE", 3), 1011.0)
    out = call.handle_timer(1030.0)  # the target's 20 s are up
    assert of(out, TransferFailed) == [TransferFailed()]
    out = transfer_of(call).ring_back(call, [Stage((TRANSFEROR,), 30.0, "sip:102@acme.example", "102", "102")], 1030.0)
    (back,) = fork_invites(out)
    assert back.request.from_.display_name == "Returned Reception"
    nobody = call.handle_timer(1060.0)
    assert of(nobody, CallEnded) and "nobody answered the ring-back" in of(nobody, CallEnded)[0].record.cause


def test_refer_to_reads_a_number_or_a_replaces() -> None:
    call, _, _ = answered_call()
    plain = refer_to(refer(call, "b", 5, "sip:104@acme.example"))
    assert plain is not None and plain.number == "104" and plain.replaces is None
    attended = refer_to(refer(call, "b", 6, "sip:104@acme.example?Replaces=c2%40phone%3Bto-tag%3Dsw2%3Bfrom-tag%3Db2"))
    assert attended is not None and attended.replaces == Replaces("c2@phone", "sw2", "b2")


def test_attended_transfer_joins_the_far_end_of_the_other_call() -> None:
    call, _ = blind_setup()
    other, _, _ = answered_call()  # B's second call: B is its leg a, 104 (X) its leg b
    other.on_ack("a", in_dialog(other, "a", "ACK", 2), 1002.1)
    handoff, leaving = other.hand_off("b", 1019.9)
    assert Detach("b") in leaving and other.leg("b") is None
    out = transfer_of(call).attended(call, handoff, 1020.0)
    assert [r.status for r in responses(out)] == [202]
    sends = {s.request.method: s for s in of(out, SendRequest)}
    assert sends["NOTIFY"].request.body == b"SIP/2.0 200 OK\r\n" and "BYE" in sends
    reinvite = sends["INVITE"]
    assert reinvite.request.call_id == handoff.dialog.call_id  # X's own dialog, now on this call's leg b
    assert parse_sdp(reinvite.request.body).media[0].line.port == 10002
    assert reinvite.request.get("P-Asserted-Identity") == "Reception <sip:101@acme.example>"
    assert BindDialog(handoff.dialog.key, "b") in out
    out = call.on_response(reinvite.ref, answer_to(reinvite.request, 200, "t0", sdp("10.0.0.9", 7000)), 1020.1)
    assert [raw.data.split(b" ")[0] for raw in of(out, SendRaw)] == [b"ACK"]
    assert SetMedia("b", ("10.0.0.9", 7000), 101) in out
    (to_transferee,) = of(out, SendRequest)
    assert to_transferee.request.call_id == "a-call@phone" and to_transferee.request.method == "INVITE"
    assert [(p.who, p.role, p.by) for p in call.record.parties][-1][1:] == ("attended transfer", "102")


def blind_setup() -> tuple[Call, list]:  # type: ignore[type-arg]
    """A and B talk; B REFERs with Replaces (what the service turns into ``attended``)."""
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    call.extensions.update(a="101", b="102")
    transfer_of(call)
    uri = "sip:104@acme.example?Replaces=c2%40phone%3Bto-tag%3Dsw2%3Bfrom-tag%3Db2"
    out = call.on_request("b", Tx("refer"), refer(call, "b", 5, uri), 1019.0)
    (wanted,) = of(out, TransferWanted)
    assert wanted.replaces == Replaces("c2@phone", "sw2", "b2")
    return call, out


def test_the_transfer_code_typed_in_a_call_then_a_number_and_hash_transfers_blind() -> None:
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    call.extensions.update(a="101", b="102")
    transfer_of(call).code = "##"
    assert call.on_key("b", "#", 1010.0) is not None
    for i, key in enumerate("#104"):
        assert of(call.on_key("b", key, 1010.2 + i / 10), TransferWanted) == []
    assert call.get_timer() == 1010.5 + 3.0  # a pause ends the number too
    assert of(call.on_key("b", "#", 1011.0), TransferWanted) == [TransferWanted("a", "b", "104")]
    out = transfer_of(call).blind(call, [Stage((TARGET,), 20.0, "sip:104@acme.example", "104", "104")], 1011.0)
    assert responses(out) == []  # no REFER to answer
    sends = [s.request.method for s in of(out, SendRequest)]
    assert sends == ["BYE", "INVITE"]  # the transferor is done at once; the target rings
    assert call.phase is Phase.TRANSFERRING


def test_a_pause_after_the_number_transfers_and_another_key_gives_up() -> None:
    call, _, _ = answered_call()
    call.extensions.update(a="101", b="102")
    transfer_of(call).code = "##"
    for key in "##10":
        call.on_key("b", key, 1010.0)
    assert of(call.handle_timer(1013.1), TransferWanted) == [TransferWanted("a", "b", "10")]
    transfer_of(call).refused(call, 404, "Not Found", 1013.1)
    for key in "##1*":
        call.on_key("b", key, 1020.0)
    assert call.get_timer() is None or of(call.handle_timer(1030.0), TransferWanted) == []


def pulling_invite(call: Call, body: bytes) -> Request:
    """103's INVITE with Replaces naming 102's dialog (leg b) as the switch sees it."""
    assert call.b is not None
    head = (
        "INVITE sip:102@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bKpull\r\n"
        "Max-Forwards: 70\r\nFrom: \"Carol\" <sip:103@acme.example>;tag=carol\r\nTo: <sip:102@acme.example>\r\n"
        f"Call-ID: pull@phone\r\nCSeq: 1 INVITE\r\nContact: <sip:103@10.0.0.3:5060>\r\n"
        f"Replaces: {call.b.call_id};to-tag={call.b.local_tag};from-tag=t0\r\nRequire: replaces\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    msg = parse_message(head.encode() + body)
    assert isinstance(msg, Request)
    return msg


def test_an_invite_with_replaces_takes_the_place_of_a_phone_on_an_answered_call() -> None:
    """RFC 3891 §3: 103's INVITE names 102's dialog; 103 is answered on leg b's port with the
    codec 101 has, 102 gets BYE, and 101 is re-INVITEd with 103's session and identity."""
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    call.extensions.update(a="101", b="102")
    old = call.b
    assert old is not None
    pcma_first = sdp("10.0.0.3", 7300).replace(b"RTP/AVP 0 8 18 101", b"RTP/AVP 8 0 101")
    out = transfer_of(call).replaced(call, "b", pulling_invite(call, pcma_first), Tx("pull"), Target("UDP", "10.0.0.3", 5060),
                                     "103", 1030.0)
    (ok,) = responses(out)
    assert ok.status == 200 and ok.get("P-Asserted-Identity") == "Reception <sip:101@acme.example>"
    answer = parse_sdp(ok.body).media[0].line
    assert (answer.port, answer.formats[0]) == (10002, "0")  # leg b's port, the codec 101 talks (PCMU), not 103's first
    assert SetMedia("b", ("10.0.0.3", 7300), 101) in out and BindDialog(call.b.key, "b") in out  # type: ignore[union-attr]
    assert call.b is not old and call.b is not None and call.b.call_id == "pull@phone" and call.extensions["b"] == "103"
    sends = {s.request.method: s for s in of(out, SendRequest)}
    assert sends["BYE"].request.call_id == old.call_id and "replaced" in (sends["BYE"].request.get("Reason") or "")
    reinvite = sends["INVITE"]
    assert reinvite.request.call_id == "a-call@phone" and reinvite.request.get("P-Asserted-Identity") == "Carol <sip:103@acme.example>"
    offered = parse_sdp(reinvite.request.body).media[0].line
    assert (offered.port, offered.formats) == (10000, ("0", "101"))  # 101's port, only the agreed codec
    # 102's BYE crossing ours is answered and ends nothing.
    late = call.on_request("transferor", Tx("bye"), in_dialog(call, "b", "BYE", 9), 1030.05)
    assert [r.status for r in responses(late)] == [200] and call.phase is Phase.ANSWERED
    out = call.on_response(reinvite.ref, answer_to(reinvite.request, 200, "caller", sdp("192.168.1.10", 4000)), 1030.1)
    assert [raw.data.split(b" ")[0] for raw in of(out, SendRaw)] == [b"ACK"] and not call.pending
    assert [(p.who, p.role, p.by) for p in call.record.parties][-1] == ("103", "replaces", "102")
    assert call.phase is Phase.ANSWERED


def test_an_invite_with_replaces_during_another_offer_or_without_a_common_codec_is_refused() -> None:
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    g729 = sdp("10.0.0.3", 7300).replace(b"RTP/AVP 0 8 18 101", b"RTP/AVP 18 101")
    (refused,) = responses(transfer_of(call).replaced(call, "b", pulling_invite(call, g729), Tx("p"),
                                                      Target("UDP", "10.0.0.3", 5060), "103", 1030.0))
    assert refused.status == 488 and call.b is not None and call.b.call_id != "pull@phone"
    transfer_of(call).by_keys(call, "b", "104")  # a transfer in progress
    (busy,) = responses(transfer_of(call).replaced(call, "b", pulling_invite(call, sdp("10.0.0.3", 7300)), Tx("q"),
                                                   Target("UDP", "10.0.0.3", 5060), "103", 1030.0))
    assert busy.status == 491
