"""Call park in the pure call core: REFER to the park code (RFC 3515 NOTIFY sipfrag), music
while parked, pick-up bridging the retriever with identities, refusals, expiry (explicit now)."""

from __future__ import annotations

from softswitch.b2bua.actions import (
    Announce,
    BindDialog,
    CallEnded,
    Detach,
    Device,
    ParkExpired,
    ParkWanted,
    Phase,
    Play,
    SendRaw,
    SendRequest,
    SetMedia,
    Stage,
    StopPlaying,
)
from softswitch.b2bua.call import Call
from softswitch.b2bua.parking import CallPark
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


def park(call: Call) -> CallPark:
    """The call's park feature (the service registers one on every call)."""
    return call.feature(CallPark) or call.add(CallPark())


def parked_call() -> tuple[Call, list]:  # type: ignore[type-arg]
    """A calls B; B (leg b) REFERs A to *85; the service accepts and parks at *801."""
    call, _, _ = answered_call()
    park(call)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    out = call.on_request("b", Tx("refer"), refer(call, "b", 5), 1010.0)
    assert of(out, ParkWanted) == [ParkWanted("a", "b", "*85")]
    assert responses(out) == []  # held until the service decides
    accepted = park(call).accepted(call)
    (resp,) = responses(accepted)
    assert resp.status == 202
    (notify,) = of(accepted, SendRequest)
    assert notify.request.method == "NOTIFY" and notify.request.get("Event") == "refer"
    assert notify.request.get("Subscription-State") == "active;expires=60"
    assert notify.request.get("Content-Type") == "message/sipfrag;version=2.0"
    assert notify.request.body == b"SIP/2.0 100 Trying\r\n"
    done = park(call).parked(call, "*801", 1310.0, "102", 1010.5)
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
    out = park(call).pick_up(call, invite, Tx("c-invite"), C_SRC, "103", 1020.0)
    assert [r.status for r in responses(out)] == [100]
    assert SetMedia("b", ("192.0.2.30", 7000), 101) in out and of(out, BindDialog)[0].leg == "b"
    (reinvite,) = of(out, SendRequest)
    req = reinvite.request
    assert req.method == "INVITE" and req.call_id == "a-call@phone"  # inside the parked party's dialog
    assert req.get("P-Asserted-Identity") == 'Carol <sip:103@acme.example>'
    assert parse_sdp(req.body).media[0].line.port == 10000  # the parked party keeps its relay port
    # A second retriever while the first is being bridged is told so.
    other = park(call).pick_up(call, pickup_invite(sdp()), Tx("d"), C_SRC, "104", 1020.1)
    assert [r.status for r in responses(other)] == [486]
    answer = answer_to(req, 200, "caller", sdp("192.168.1.10", 4000), contact="<sip:101@192.168.1.10:5070>")
    out = call.on_response(reinvite.ref, answer, 1020.3)
    (ok,) = responses(out)
    assert ok.status == 200 and ok.to.tag is not None
    assert ok.get("P-Asserted-Identity") == 'Reception <sip:101@acme.example>'
    assert parse_sdp(ok.body).media[0].line.port == 10002  # the retriever gets the parker's relay port
    assert StopPlaying("a") in out and SetMedia("a", ("192.168.1.10", 4000), 101) in out
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


def accepted_call() -> Call:
    """A calls B; B REFERs A to *85; the slot is taken, the store not yet answered."""
    call, _, _ = answered_call()
    park(call)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    call.on_request("b", Tx("refer"), refer(call, "b", 5), 1010.0)
    park(call).accepted(call)
    return call


def test_a_pick_up_while_the_park_is_being_recorded_waits_for_it() -> None:
    """The lamp lit (the slot is claimed) and a BLF key was pressed at once: the pick-up is
    not refused; it waits for the park to be done, then bridges as usual."""
    call = accepted_call()
    early = park(call).pick_up(call, pickup_invite(sdp("192.0.2.30", 7000)), Tx("c"), C_SRC, "103", 1010.2)
    assert [r.status for r in responses(early)] == [100] and of(early, SendRequest) == []
    done = park(call).parked(call, "*801", 1310.0, "102", 1010.5)
    assert [s.request.method for s in of(done, SendRequest)] == ["NOTIFY", "MESSAGE", "BYE", "INVITE"]
    reinvite = of(done, SendRequest)[-1]
    assert reinvite.request.call_id == "a-call@phone" and reinvite.request.get("P-Asserted-Identity") == 'Carol <sip:103@acme.example>'
    answer = answer_to(reinvite.request, 200, "caller", sdp("192.168.1.10", 4000), contact="<sip:101@192.168.1.10:5070>")
    out = call.on_response(reinvite.ref, answer, 1010.7)
    assert [r.status for r in responses(out)] == [200] and call.phase is Phase.ANSWERED
    assert call.record.retrieved_by == "103"


def test_a_waiting_pick_up_is_refused_when_the_park_fails_and_cancelled_when_it_gives_up() -> None:
    call = accepted_call()
    tx = Tx("c")
    park(call).pick_up(call, pickup_invite(sdp()), tx, C_SRC, "103", 1010.2)
    out = park(call).refused(call, 486, "Slot Taken", 1010.4)
    assert [(r.status, r.reason) for r in responses(out)] == [(480, "Call Not Parked")]
    assert all(r.status != 480 for r in responses(park(call).refused(call, 486, "Slot Taken", 1010.5)))
    call = accepted_call()
    tx = Tx("d")
    park(call).pick_up(call, pickup_invite(sdp()), tx, C_SRC, "103", 1010.2)
    assert [r.status for r in responses(call.on_cancel(1010.3, None, tx))] == [487]
    done = park(call).parked(call, "*801", 1310.0, "102", 1010.5)
    assert [s.request.method for s in of(done, SendRequest)] == ["NOTIFY", "MESSAGE", "BYE"]  # nobody picks up


def test_a_refused_retrieve_keeps_the_call_parked() -> None:
    call, _ = parked_call()
    out = park(call).pick_up(call, pickup_invite(sdp("192.0.2.30", 7000)), Tx("c"), C_SRC, "103", 1020.0)
    (reinvite,) = of(out, SendRequest)
    out = call.on_response(reinvite.ref, answer_to(reinvite.request, 488, "caller"), 1020.2)
    assert [r.status for r in responses(out)] == [488]
    assert Detach("b") in out and call.phase is Phase.PARKED and call.b is None
    assert call.get_timer() == 1310.0


def test_full_lot_refuses_the_refer_and_the_call_goes_on() -> None:
    call, _, _ = answered_call()
    call.on_request("b", Tx("refer"), refer(call, "b", 5), 1010.0)
    out = park(call).refused(call, 503, "Parking Lot Full", 1010.0)
    assert [(r.status, r.reason) for r in responses(out)] == [(503, "Parking Lot Full")]
    assert call.phase is Phase.ANSWERED and park(call).parking is None and call.b is not None
    # Accepted first, then the store says no: the NOTIFY carries the failure.
    call.on_request("b", Tx("refer"), refer(call, "b", 6), 1011.0)
    park(call).accepted(call)
    out = park(call).refused(call, 486, "Parking Slot Taken", 1011.2)
    (notify,) = of(out, SendRequest)
    assert notify.request.body == b"SIP/2.0 486 Parking Slot Taken\r\n"
    assert call.phase is Phase.ANSWERED


def test_parker_hanging_up_after_202_does_not_take_the_parked_party() -> None:
    call, _, _ = answered_call()
    call.on_request("b", Tx("refer"), refer(call, "b", 5, extra="Refer-Sub: false\r\n"), 1010.0)
    (resp,) = responses(park(call).accepted(call))
    assert resp.get("Refer-Sub") == "false"
    bye = call.on_request("b", Tx("bye"), in_dialog(call, "b", "BYE", 6), 1010.1)
    assert [r.status for r in responses(bye)] == [200] and not of(bye, CallEnded) and not of(bye, SendRequest)
    done = park(call).parked(call, "*801", 1310.0, "102", 1010.3)
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
    assert SetMedia("a", ("192.168.1.10", 4002), 101) in out
    info = call.on_request("a", Tx("i"), in_dialog(call, "a", "INFO", 9), 1051.0)
    assert [r.status for r in responses(info)] == [200]


PARKER_PHONE = Device("sip:102@10.0.0.1:5060", Target("UDP", "10.0.0.1", 5060), "Yealink")
DESK_PHONES = (Device("sip:104@10.0.0.4:5060", Target("UDP", "10.0.0.4", 5060), "desk"),
               Device("sip:104@10.0.0.5:5060", Target("UDP", "10.0.0.5", 5060), "soft"))


def expired_call(held_sdp: bytes | None = None) -> tuple[Call, list]:  # type: ignore[type-arg]
    """A parked call whose time ran out; the parked party had put itself on hold."""
    call, _ = parked_call()
    if held_sdp is not None:
        call.on_request("a", Tx("hold"), in_dialog(call, "a", "INVITE", 8, held_sdp), 1020.0)
        call.on_ack("a", in_dialog(call, "a", "ACK", 8), 1020.1)
    assert of(call.handle_timer(1310.0), ParkExpired)
    stages = [Stage((PARKER_PHONE,), 30.0, "sip:102@acme.example", "102", "102"),
              Stage(DESK_PHONES, 20.0, "sip:104@acme.example", "104", "104")]
    return call, park(call).ring_back(call, stages, 1310.1)


def test_expiry_rings_the_parker_back_with_the_parked_party_off_hold() -> None:
    held = sdp("192.168.1.10", 4000).replace(b"a=sendrecv", b"a=sendonly").replace(b"o=- 1 1", b"o=- 1 2")
    assert held != sdp("192.168.1.10", 4000)
    call, out = expired_call(held)
    (ring,) = of(out, SendRequest)
    req = ring.request
    assert req.method == "INVITE" and str(req.uri) == "sip:102@10.0.0.1:5060" and ring.target == PARKER_PHONE.target
    assert req.call_id != "a-call@phone"  # a new dialog with the parker's phone
    assert req.from_.display_name == "Parked *801 Reception" and str(req.from_.uri) == "sip:101@acme.example"
    offer = parse_sdp(req.body)
    assert offer.media[0].line.port == 10002  # the parker's relay port, as before the park
    assert offer.media[0].direction == "" and b"sendonly" not in req.body  # off hold: sendrecv
    assert call.phase is Phase.PARKED and call.get_timer() == 1340.1  # music goes on while it rings
    # The parker's phone answers: it takes the leg, the parked party is taken off hold.
    out = call.on_response(ring.ref, answer_to(req, 200, "p1", sdp("10.0.0.1", 5002)), 1315.0)
    assert [raw.data.split(b" ")[0] for raw in of(out, SendRaw)] == [b"ACK"]
    assert SetMedia("b", ("10.0.0.1", 5002), 101) in out and StopPlaying("a") in out
    assert BindDialog((req.call_id, req.from_.tag or ""), "b") in out  # its BYE now ends the call
    (reinvite,) = of(out, SendRequest)
    re_req = reinvite.request
    assert re_req.method == "INVITE" and re_req.call_id == "a-call@phone"
    assert re_req.get("P-Asserted-Identity") == "<sip:102@acme.example>"
    assert parse_sdp(re_req.body).media[0].line.port == 10000 and parse_sdp(re_req.body).media[0].direction == "sendrecv"
    assert call.phase is Phase.ANSWERED and park(call).parking is None
    assert (call.record.retrieved_by, call.record.retrieved_at) == ("102", 1315.0)
    out = call.on_response(reinvite.ref, answer_to(re_req, 200, "caller", sdp("192.168.1.10", 4004),
                                                   contact="<sip:101@192.168.1.10:5070>"), 1315.1)
    assert SetMedia("a", ("192.168.1.10", 4004), 101) in out
    assert [raw.data.split(b" ")[0] for raw in of(out, SendRaw)] == [b"ACK"]
    assert call.pending == {}
    # An ordinary call again: the parker's BYE ends both.
    bye = call.on_request("b", Tx("bye"), in_dialog(call, "b", "BYE", 2), 1400.0)
    assert [s.request.method for s in of(bye, SendRequest)] == ["BYE"] and of(bye, CallEnded)


def test_ring_back_nobody_answers_then_the_fallback_then_hang_up() -> None:
    call, out = expired_call()
    (ring,) = of(out, SendRequest)
    call.on_response(ring.ref, answer_to(ring.request, 180, "p1"), 1310.5)
    out = call.handle_timer(1340.1)  # the parker's 30 s are up: CANCEL, then the fallback's phones
    sends = [s.request for s in of(out, SendRequest)]
    assert [r.method for r in sends] == ["CANCEL", "INVITE", "INVITE"]
    assert sends[0].get("Reason") == 'SIP;cause=480;text="No answer"'
    assert [str(r.uri) for r in sends[1:]] == ["sip:104@10.0.0.4:5060", "sip:104@10.0.0.5:5060"]
    # One fallback phone is busy; the other does not answer within its 20 s: the call ends.
    busy = of(out, SendRequest)[1]
    assert not of(call.on_response(busy.ref, answer_to(busy.request, 486, "d1"), 1341.0), CallEnded)
    out = call.handle_timer(1360.1)
    # The other fork never sent a provisional: no CANCEL yet (§9.1); the parked party is let go.
    assert [(s.request.method, s.request.call_id) for s in of(out, SendRequest)] == [("BYE", "a-call@phone")]
    (ended,) = of(out, CallEnded)
    assert ended.record.hangup_by == "switch" and ended.record.cause == "parked at *801: nobody answered the ring-back"


def test_a_pick_up_during_the_ring_back_wins_and_a_late_answer_is_hung_up() -> None:
    call, out = expired_call()
    (ring,) = of(out, SendRequest)
    call.on_response(ring.ref, answer_to(ring.request, 180, "p1"), 1310.5)
    out = park(call).pick_up(call, pickup_invite(sdp("192.0.2.30", 7000)), Tx("c"), C_SRC, "103", 1311.0)
    (reinvite,) = of(out, SendRequest)
    # The parker answers while the pick-up is being bridged: too late.
    late = call.on_response(ring.ref, answer_to(ring.request, 200, "p1", sdp("10.0.0.1", 5002)), 1311.1)
    assert [s.request.method for s in of(late, SendRequest)] == ["BYE"] and call.phase is Phase.PARKED
    out = call.on_response(reinvite.ref, answer_to(reinvite.request, 200, "caller", sdp("192.168.1.10", 4000),
                                                   contact="<sip:101@192.168.1.10:5070>"), 1311.3)
    assert [r.status for r in responses(out)] == [200] and call.phase is Phase.ANSWERED
    assert call.record.retrieved_by == "103" and call.get_timer() != 1340.1


def test_the_parked_party_hanging_up_cancels_the_ring_back() -> None:
    call, out = expired_call()
    (ring,) = of(out, SendRequest)
    call.on_response(ring.ref, answer_to(ring.request, 180, "p1"), 1310.5)
    out = call.on_request("a", Tx("bye"), in_dialog(call, "a", "BYE", 9), 1312.0)
    assert [s.request.method for s in of(out, SendRequest)] == ["CANCEL"]
    assert of(out, CallEnded)[0].record.hangup_by == "parked party"


def info(call: Call, leg: str, cseq: int, body: str, ctype: str = "application/dtmf-relay") -> Request:
    req = in_dialog(call, leg, "INFO", cseq, body.encode())
    msg = parse_message(bytes(req).replace(b"application/sdp", ctype.encode()))
    assert isinstance(msg, Request)
    return msg


def key_call() -> Call:
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    call.extensions.update(a="101", b="102")
    park(call).code = "*85"
    return call


def test_the_park_code_typed_in_a_call_parks_the_other_party_and_the_parker_hears_the_code() -> None:
    call = key_call()
    # '*' and '8' as SIP INFO (both kinds of body), each passed on to the other phone.
    out = call.on_request("b", Tx("i1"), info(call, "b", 5, "Signal=*\r\nDuration=160\r\n"), 1010.0)
    assert [s.request.method for s in of(out, SendRequest)] == ["INFO"] and not of(out, ParkWanted)
    call.on_request("b", Tx("i2"), info(call, "b", 6, "8", "application/dtmf"), 1010.5)
    # '5' as an RFC 4733 event (from the relay): the code is complete.
    out = call.on_key("b", "5", 1011.0)
    assert out == [ParkWanted("a", "b", "*85")]
    assert park(call).accepted(call) == []  # no REFER to answer
    done = park(call).parked(call, "*801", 1311.0, "102", 1011.2)
    assert [s.request.method for s in of(done, SendRequest)] == ["MESSAGE"]  # no BYE yet
    assert Play("a", 0) in done
    assert Announce("b", ("parked-at", "star", "eight", "zero", "one"), 0) in done
    assert call.phase is Phase.PARKED and call.b is not None  # the parker listens
    # The prompt is over: the parker is let go.
    out = call.announced("b", 1014.0)
    (bye,) = of(out, SendRequest)
    assert bye.request.method == "BYE" and bye.request.get("Reason") == 'SIP;cause=200;text="Call parked at *801"'
    assert Detach("b") in out and call.b is None and call.announced("b", 1014.1) == []


def test_keys_typed_slowly_by_an_outside_party_or_while_parking_do_not_park() -> None:
    call = key_call()
    assert call.on_key("b", "*", 1010.0) == [] and call.on_key("b", "8", 1010.5) == []
    assert call.on_key("b", "5", 1014.0) == []  # more than 3 s after the '8': a new sequence
    for key in "*85":
        out = call.on_key("a", key, 1020.0)
    assert out == [ParkWanted("b", "a", "*85")]  # the caller may park the callee too
    assert [call.on_key("b", key, 1020.1) for key in "*85"] == [[], [], []]  # one park at a time
    call = key_call()
    call.extensions["a"] = None  # an outside caller (from a trunk) cannot park
    assert [call.on_key("a", key, 1020.0) for key in "*85"] == [[], [], []]


def test_a_full_lot_is_spoken_to_a_key_parker_and_the_call_goes_on() -> None:
    call = key_call()
    for key in "*85":
        call.on_key("b", key, 1010.0)
    out = park(call).refused(call, 503, "Parking Lot Full", 1010.1)
    assert out == [Announce("b", ("lot-full",), 0)]
    assert call.phase is Phase.ANSWERED and park(call).parking is None and call.announced("b", 1013.0) == []


def test_a_parker_hanging_up_during_the_code_leaves_the_parked_party_parked() -> None:
    call = key_call()
    for key in "*85":
        call.on_key("b", key, 1010.0)
    park(call).parked(call, "*801", 1311.0, "102", 1010.2)
    out = call.on_request("b", Tx("bye"), in_dialog(call, "b", "BYE", 7), 1011.0)
    assert [r.status for r in responses(out)] == [200] and not of(out, CallEnded) and not of(out, SendRequest)
    assert StopPlaying("b") in out and Detach("b") in out
    assert call.phase is Phase.PARKED and call.announced("b", 1013.0) == []


def test_the_parkers_own_bye_after_a_waiting_pick_up_took_its_leg_does_not_end_the_call() -> None:
    """The parker's phone hangs up as its REFER succeeds (baresip does) just after a waiting
    pick-up took its leg: that BYE is the old dialog's, not the retriever's (481), and the
    parked party and the retriever are bridged as usual."""
    call = accepted_call()
    parker_bye = in_dialog(call, "b", "BYE", 6)  # built while the parker's dialog is the leg's
    park(call).pick_up(call, pickup_invite(sdp("192.0.2.30", 7000)), Tx("c"), C_SRC, "103", 1010.2)
    done = park(call).parked(call, "*801", 1310.0, "102", 1010.5)
    reinvite = of(done, SendRequest)[-1]
    out = call.on_request("b", Tx("bye"), parker_bye, 1010.6)
    assert [r.status for r in responses(out)] == [481] and of(out, CallEnded) == [] and call.phase is Phase.PARKED
    assert call.on_ack("b", in_dialog(call, "a", "ACK", 9), 1010.6) == []  # nor an ACK from another dialog
    answer = answer_to(reinvite.request, 200, "caller", sdp("192.168.1.10", 4000), contact="<sip:101@192.168.1.10:5070>")
    out = call.on_response(reinvite.ref, answer, 1010.7)
    assert [r.status for r in responses(out)] == [200] and call.phase is Phase.ANSWERED
    assert call.record.retrieved_by == "103"
