"""The switch answering a call itself (attendant.py): its own answer, a menu's prompt and keys
(INFO here; RFC 4733 arrives as ``on_key`` from the relay), the destination chosen, ringing
with music, and the first answer bridged on the same session without a re-INVITE."""

from __future__ import annotations

import itertools

from softswitch.b2bua.actions import (
    Action,
    Announce,
    CallEnded,
    Device,
    Locality,
    MediaPorts,
    Phase,
    Play,
    Route,
    SendRequest,
    SetMedia,
    Stage,
    StopPlaying,
)
from softswitch.b2bua.attendant import attendant_of
from softswitch.b2bua.call import Call
from softswitch.b2bua.confirm import Confirm
from softswitch.b2bua.record import CallRecord
from softswitch.config.schema import Menu
from softswitch.dialplan.menu import MenuRun
from softswitch.sdp.model import parse_sdp
from softswitch.sdp.offer_answer import RelayPorts
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import Target

from .test_call_core import A_SRC, Tx, answer_to, fork_invites, in_dialog, invite, of, responses, sdp

MENU = Menu(name="main", prompt="welcome", options={"1": "600"}, timeout=5, attempts=2, fallback="104")


def hotline_call(body: bytes | None = None) -> Call:
    ids = itertools.count(1)
    return Call(
        record=CallRecord("rec1", "acme", "0909789846", "menu:main", "inbound", 1000.0),
        invite=invite(sdp() if body is None else body), tx=Tx("a-invite"), source=A_SRC,
        locality=Locality({"UDP": ("203.0.113.1", 5060)}),
        media=MediaPorts("203.0.113.1", RelayPorts(10000, 10001), RelayPorts(10002, 10003)),
        new_id=lambda: f"id{next(ids)}", new_branch=lambda: f"z9hG4bKb{next(ids)}",
    )


def ring_for_caller(call: Call, stages: list[Stage], now: float) -> list[Action]:
    """As the service rings what a menu chose: with answer confirmation where a stage asks."""
    if any(s.confirm for s in stages) and call.feature(Confirm) is None:
        call.add(Confirm())
    return attendant_of(call).ring(call, stages, now)


def info(call: Call, key: str, cseq: int) -> Request:
    body = f"Signal={key}\r\nDuration=160\r\n".encode()
    head = (f"INFO sip:b2bua@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5070;branch=z9hG4bKinfo{cseq}\r\n"
            f"From: <sip:101@acme.example>;tag=caller\r\nTo: <sip:102@acme.example>;tag={call.a_tag}\r\n"
            f"Call-ID: a-call@phone\r\nCSeq: {cseq} INFO\r\nMax-Forwards: 70\r\nContent-Type: application/dtmf-relay\r\n")
    msg = parse_message(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert isinstance(msg, Request)
    return msg


def test_a_menu_answers_plays_takes_a_key_and_bridges_the_first_answer_without_reinvite() -> None:
    call = hotline_call()
    out = attendant_of(call).run_menu(call, MenuRun(MENU), 1000.0)
    (ok,) = [r for r in responses(out) if r.status == 200]
    answer = parse_sdp(ok.body)
    assert answer.media[0].line.formats == ("0", "101")  # the first G.711 offered, and telephone-event
    assert answer.media[0].line.port == 10000 and (answer.first("o") or "").startswith("softswitch ")
    assert of(out, Announce) == [Announce("a", ("welcome",), 0)]
    assert call.phase is Phase.ATTENDED and call.record.answered is None
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    assert call.announced("a", 1002.0) == []  # the prompt has played: 5 s for a key
    assert call.get_timer() == 1007.0
    out = call.on_request("a", Tx("info"), info(call, "1", 3), 1003.0)
    assert [r.status for r in responses(out)] == [200]
    assert of(out, Route) == [Route("600", "key 1")]
    device = Device("sip:103@10.0.0.3:5060", Target("UDP", "198.51.100.3", 6000), "phone", member="103")
    out = ring_for_caller(call, [Stage((device,), 15, "sip:600@acme.example", "600")], 1003.1)
    assert of(out, Play) == [Play("a", 0)]
    (fork,) = fork_invites(out)
    offered = parse_sdp(fork.request.body)
    assert offered.media[0].line.formats == ("0", "101") and offered.media[0].line.port == 10002
    assert fork.request.from_.uri.user == "101"  # type: ignore[union-attr]  # the caller is shown
    out = call.on_response(fork.ref, answer_to(fork.request, 200, "t3", sdp("10.0.0.3", 5002)), 1005.0)
    assert call.phase is Phase.ANSWERED
    assert StopPlaying("a") in out and of(out, SetMedia)[0].leg == "b"
    assert not [s for s in of(out, SendRequest) if s.request.method == "INVITE"]  # no re-INVITE to the caller
    assert (call.record.answered, call.record.answered_by) == (1005.0, "103")


def test_silence_repeats_the_prompt_then_the_fallback_is_chosen() -> None:
    call = hotline_call()
    attendant_of(call).run_menu(call, MenuRun(MENU), 1000.0)
    call.announced("a", 1002.0)
    assert of(call.handle_timer(1007.0), Announce) == [Announce("a", ("welcome",), 0)]
    call.announced("a", 1009.0)
    assert of(call.handle_timer(1014.0), Route) == [Route("104", "no key")]


def test_an_invite_without_sdp_gets_the_switchs_offer_and_the_answer_comes_in_the_ack() -> None:
    call = hotline_call(body=b"")
    out = attendant_of(call).run_menu(call, MenuRun(MENU), 1000.0)
    (ok,) = [r for r in responses(out) if r.status == 200]
    assert parse_sdp(ok.body).media[0].line.formats == ("0", "8", "101")
    ack = in_dialog(call, "a", "ACK", 2, sdp("192.168.1.10", 4100))
    (media,) = call.on_ack("a", ack, 1000.2)
    assert media == SetMedia("a", ("192.168.1.10", 4100), 101)


def test_the_caller_hanging_up_in_the_menu_ends_the_call_as_cancelled() -> None:
    call = hotline_call()
    attendant_of(call).run_menu(call, MenuRun(MENU), 1000.0)
    out = call.on_request("a", Tx("bye"), in_dialog(call, "a", "BYE", 3), 1001.0)
    assert [r.status for r in responses(out)] == [200]
    rec = of(out, CallEnded)[0].record
    assert (rec.disposition, rec.hangup_by, rec.cause) == ("cancelled", "caller", "hung up in a menu")


def test_a_member_who_must_press_1_hears_the_prompt_and_is_hung_up_once_if_the_call_ends() -> None:
    call = hotline_call()
    attendant_of(call).run_menu(call, MenuRun(MENU), 1000.0)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    mobile = Device("sip:0909000001@198.51.100.9:5060", Target("UDP", "198.51.100.9", 5060), "trunk", "sip:0287@198.51.100.9",
                    member="0909000001")
    out = ring_for_caller(call, [Stage((mobile,), 20, "sip:mobiles@acme.example", "external mobiles", confirm="press-one",
                                      confirm_timeout=10)], 1001.0)
    (fork,) = fork_invites(out)
    out = call.on_response(fork.ref, answer_to(fork.request, 200, "m1", sdp("198.51.100.9", 7000)), 1002.0)
    assert of(out, Announce) == [Announce("b", ("press-one",), 0)] and call.phase is Phase.ATTENDED
    assert call.get_timer() == 1012.0  # the member's 10 s to press 1
    out = call.hang_up(1003.0, "switch", "switch shutting down")
    byes = [s for s in of(out, SendRequest) if s.request.method == "BYE"]
    assert sorted(str(b.request.uri) for b in byes) == ["sip:101@192.168.1.10:5070", "sip:102@10.0.0.1:5060"]


def test_when_nobody_answers_the_caller_is_told_so_then_hung_up() -> None:
    call = hotline_call()
    attendant_of(call).run_menu(call, MenuRun(MENU), 1000.0)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    device = Device("sip:103@10.0.0.3:5060", Target("UDP", "198.51.100.3", 6000), "phone", member="103")
    (fork,) = fork_invites(ring_for_caller(call, [Stage((device,), 15, "sip:600@acme.example", "600")], 1001.0))
    out = call.on_response(fork.ref, answer_to(fork.request, 486, "t3"), 1002.0)
    assert StopPlaying("a") in out and of(out, Announce) == [Announce("a", ("nobody-available",), 0)]
    assert call.phase is Phase.ATTENDED  # still on the line, hearing it
    out = call.announced("a", 1006.0)
    (bye,) = of(out, SendRequest)
    assert bye.request.method == "BYE" and 'text="nobody answered"' in (bye.request.get("Reason") or "")
    rec = of(out, CallEnded)[0].record
    assert (rec.disposition, rec.hangup_by, rec.cause) == ("no answer", "switch", "nobody answered")
