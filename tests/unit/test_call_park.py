"""Call park in the pure call core: REFER to the park code (RFC 3515 NOTIFY sipfrag), music
while parked, pick-up bridging the retriever with identities, refusals, expiry (explicit now)."""

from __future__ import annotations

from softswitch.b2bua.actions import (
    BindDialog,
    CallEnded,
    Detach,
    ParkExpired,
    ParkWanted,
    Phase,
    Play,
    SendRaw,
    SendRequest,
    SetMedia,
    StopPlaying,
)
from softswitch.b2bua.call import Call
from softswitch.sdp.model import parse_sdp
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import Target

from .test_call_core import Tx, answer_to, answered_call, in_dialog, of, responses, sdp

C_SRC = Target("UDP", "192.0.2.30", 5090)


def refer(call: Call, leg: str, cseq: int, target: str = "*85", extra: str = "") -> Request:
    req = in_dialog(call, leg, "REFER", cseq)
    head = bytes(req).decode().replace("Content-Length: 0", f"Refer-To: <sip:{target}@acme.example>\r\n{extra}Content-Length: 0")
    msg = parse_message(head.replace("\r\n\r\n\r\n", "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def pickup_invite(body: bytes) -> Request:
    head = (
        "INVITE sip:*801@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.30:5090;branch=z9hG4bKc1\r\n"
        "Max-Forwards: 70\r\nFrom: \"Carol\" <sip:103@acme.example>;tag=carol\r\nTo: <sip:*801@acme.example>\r\n"
        "Call-ID: c-call@phone\r\nCSeq: 1 INVITE\r\nContact: <sip:103@192.0.2.30:5090>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    msg = parse_message(head.encode() + body)
    assert isinstance(msg, Request)
    return msg


def parked_call() -> tuple[Call, list]:  # type: ignore[type-arg]
    """A calls B; B (leg b) REFERs A to *85; the service accepts and parks at *801."""
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    out = call.on_request("b", Tx("refer"), refer(call, "b", 5), 1010.0)
    assert of(out, ParkWanted) == [ParkWanted("a", "b", "*85")]
    assert responses(out) == []  # held until the service decides
    accepted = call.park_accepted()
    (resp,) = responses(accepted)
    assert resp.status == 202
    (notify,) = of(accepted, SendRequest)
    assert notify.request.method == "NOTIFY" and notify.request.get("Event") == "refer"
    assert notify.request.get("Subscription-State") == "active;expires=60"
    assert notify.request.get("Content-Type") == "message/sipfrag;version=2.0"
    assert notify.request.body == b"SIP/2.0 100 Trying\r\n"
    done = call.parked("*801", 1310.0, "102", 1010.5)
    return call, done


def test_refer_to_the_park_code_parks_the_other_party() -> None:
    call, done = parked_call()
    sends = of(done, SendRequest)
    assert [s.request.method for s in sends] == ["NOTIFY", "MESSAGE", "BYE"]
    notify, message, bye = (s.request for s in sends)
    assert notify.body == b"SIP/2.0 200 OK\r\n" and notify.get("Subscription-State") == "terminated;reason=noresource"
    assert message.body == b"Call parked at *801" and message.get("Content-Type") == "text/plain;charset=utf-8"
    # Outside the dialog (the BYE ends it), to the parker's phone and address of record.
    assert str(message.uri) == "sip:102@10.0.0.1:5060" and message.get("To") == "<sip:102@acme.example>"
    assert message.call_id != bye.call_id and message.to.tag is None
    assert sends[1].target == sends[2].target  # to the parker's phone
    assert bye.get("Reason") == 'SIP;cause=200;text="Call parked at *801"'
    assert Detach("b") in done and Play("a", 0) in done  # music in PCMU, the session's codec
    assert call.phase is Phase.PARKED and call.b is None
    rec = call.record
    assert (rec.park_slot, rec.parked_by, rec.parked_at) == ("*801", "102", 1010.5)
    # The parked party's session lasts until the park expires, then the service routes it.
    assert call.get_timer() == 1310.0
    assert of(call.handle_timer(1310.0), ParkExpired) == [ParkExpired()]
    assert call.get_timer() is None


def test_pick_up_bridges_the_retriever_with_both_identities() -> None:
    call, _ = parked_call()
    invite = pickup_invite(sdp("192.0.2.30", 7000))
    out = call.pick_up(invite, Tx("c-invite"), C_SRC, "103", 1020.0)
    assert [r.status for r in responses(out)] == [100]
    assert SetMedia("b", ("192.0.2.30", 7000)) in out and of(out, BindDialog)[0].leg == "b"
    (reinvite,) = of(out, SendRequest)
    req = reinvite.request
    assert req.method == "INVITE" and req.call_id == "a-call@phone"  # inside the parked party's dialog
    assert req.get("P-Asserted-Identity") == 'Carol <sip:103@acme.example>'
    assert parse_sdp(req.body).media[0].line.port == 10000  # the parked party keeps its relay port
    # A second retriever while the first is being bridged is told so.
    other = call.pick_up(pickup_invite(sdp()), Tx("d"), C_SRC, "104", 1020.1)
    assert [r.status for r in responses(other)] == [486]
    answer = answer_to(req, 200, "caller", sdp("192.168.1.10", 4000), contact="<sip:101@192.168.1.10:5070>")
    out = call.on_response(reinvite.ref, answer, 1020.3)
    (ok,) = responses(out)
    assert ok.status == 200 and ok.to.tag is not None
    assert ok.get("P-Asserted-Identity") == 'Reception <sip:101@acme.example>'
    assert parse_sdp(ok.body).media[0].line.port == 10002  # the retriever gets the parker's relay port
    assert StopPlaying("a") in out and SetMedia("a", ("192.168.1.10", 4000)) in out
    assert [raw.data.split(b" ")[0] for raw in of(out, SendRaw)] == [b"ACK"]
    assert call.phase is Phase.ANSWERED
    assert (call.record.retrieved_by, call.record.retrieved_at) == ("103", 1020.3)
    # From now on it is an ordinary call between A and C: C's BYE ends both.
    bye = parse_message(
        f"BYE sip:b2bua@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.30:5090;branch=z9hG4bKc2\r\n"
        f"From: \"Carol\" <sip:103@acme.example>;tag=carol\r\nTo: <sip:*801@acme.example>;tag={ok.to.tag}\r\n"
        "Call-ID: c-call@phone\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n".encode())
    assert isinstance(bye, Request)
    out = call.on_request("b", Tx("bye"), bye, 1030.0)
    assert [r.status for r in responses(out)] == [200]
    assert [s.request.method for s in of(out, SendRequest)] == ["BYE"]
    assert of(out, CallEnded)[0].record.hangup_by == "callee"


def test_a_refused_retrieve_keeps_the_call_parked() -> None:
    call, _ = parked_call()
    out = call.pick_up(pickup_invite(sdp("192.0.2.30", 7000)), Tx("c"), C_SRC, "103", 1020.0)
    (reinvite,) = of(out, SendRequest)
    out = call.on_response(reinvite.ref, answer_to(reinvite.request, 488, "caller"), 1020.2)
    assert [r.status for r in responses(out)] == [488]
    assert Detach("b") in out and call.phase is Phase.PARKED and call.b is None
    assert call.get_timer() == 1310.0


def test_full_lot_refuses_the_refer_and_the_call_goes_on() -> None:
    call, _, _ = answered_call()
    call.on_request("b", Tx("refer"), refer(call, "b", 5), 1010.0)
    out = call.park_refused(503, "Parking Lot Full", 1010.0)
    assert [(r.status, r.reason) for r in responses(out)] == [(503, "Parking Lot Full")]
    assert call.phase is Phase.ANSWERED and call.parking is None and call.b is not None
    # Accepted first, then the store says no: the NOTIFY carries the failure.
    call.on_request("b", Tx("refer"), refer(call, "b", 6), 1011.0)
    call.park_accepted()
    out = call.park_refused(486, "Parking Slot Taken", 1011.2)
    (notify,) = of(out, SendRequest)
    assert notify.request.body == b"SIP/2.0 486 Parking Slot Taken\r\n"
    assert call.phase is Phase.ANSWERED


def test_parker_hanging_up_after_202_does_not_take_the_parked_party() -> None:
    call, _, _ = answered_call()
    call.on_request("b", Tx("refer"), refer(call, "b", 5, extra="Refer-Sub: false\r\n"), 1010.0)
    (resp,) = responses(call.park_accepted())
    assert resp.get("Refer-Sub") == "false"
    bye = call.on_request("b", Tx("bye"), in_dialog(call, "b", "BYE", 6), 1010.1)
    assert [r.status for r in responses(bye)] == [200] and not of(bye, CallEnded) and not of(bye, SendRequest)
    done = call.parked("*801", 1310.0, "102", 1010.3)
    # No NOTIFY (Refer-Sub: false), no BYE (gone already); the text still goes to its phone.
    assert [s.request.method for s in of(done, SendRequest)] == ["MESSAGE"]
    # The parked party hangs up: the call ends.
    out = call.on_request("a", Tx("bye"), in_dialog(call, "a", "BYE", 7), 1100.0)
    assert [r.status for r in responses(out)] == [200]
    assert of(out, CallEnded)[0].record.hangup_by == "parked party"


def test_parked_party_refresh_and_hold_are_answered_here() -> None:
    call, _ = parked_call()
    out = call.on_request("a", Tx("re"), in_dialog(call, "a", "INVITE", 8, sdp("192.168.1.10", 4002)), 1050.0)
    (ok,) = responses(out)
    assert ok.status == 200 and parse_sdp(ok.body).media[0].line.port == 10000
    assert SetMedia("a", ("192.168.1.10", 4002)) in out
    info = call.on_request("a", Tx("i"), in_dialog(call, "a", "INFO", 9), 1051.0)
    assert [r.status for r in responses(info)] == [200]
