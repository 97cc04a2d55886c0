"""The pure B2BUA call: forking, answer, cancel, failures, in-dialog traffic, timers (explicit now)."""

from __future__ import annotations

import itertools

from softswitch.b2bua.actions import (
    COMPLETED_ELSEWHERE,
    Action,
    BindDialog,
    CallEnded,
    Device,
    Locality,
    MediaPorts,
    Phase,
    Respond,
    SendRaw,
    SendRequest,
    SetMedia,
    Stage,
)
from softswitch.b2bua.call import Call
from softswitch.b2bua.parking import CallPark
from softswitch.b2bua.record import CallRecord
from softswitch.sdp.model import parse_sdp
from softswitch.sdp.offer_answer import RelayPorts
from softswitch.sip.message import Header, Request, Response, make_response, parse_message
from softswitch.sip.transaction import Target

A_SRC = Target("UDP", "192.0.2.10", 5070)
PHONE_SDP = (
    "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 8 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


def sdp(ip: str = "192.168.1.10", port: int = 4000) -> bytes:
    return PHONE_SDP.format(ip=ip, port=port).encode()


def invite(body: bytes = b"", cseq: int = 2) -> Request:
    head = (
        "INVITE sip:102@acme.example SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.168.1.10:5070;branch=z9hG4bKa1;rport=5070;received=192.0.2.10\r\n"
        "Max-Forwards: 70\r\nFrom: \"Reception\" <sip:101@acme.example>;tag=caller\r\nTo: <sip:102@acme.example>\r\n"
        f"Call-ID: a-call@phone\r\nCSeq: {cseq} INVITE\r\nContact: <sip:101@192.168.1.10:5070>\r\n"
    )
    if body:
        head += "Content-Type: application/sdp\r\n"
    msg = parse_message(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert isinstance(msg, Request)
    return msg


class Tx:
    """Stands for a server transaction (the core treats it as opaque)."""

    def __init__(self, name: str) -> None:
        self.name = name


def bare_call(body: bytes | None = None, record: CallRecord | None = None, ids: str = "id", branch: str = "b") -> Call:
    """A caller's INVITE taken, nothing rung yet, no feature registered."""
    count = itertools.count(1)
    return Call(
        record=record or CallRecord("rec1", "acme", "101", "102", "internal", 1000.0),
        invite=invite(sdp() if body is None else body), tx=Tx("a-invite"), source=A_SRC,
        locality=Locality({"UDP": ("203.0.113.1", 5060)}),
        media=MediaPorts("203.0.113.1", RelayPorts(10000, 10001), RelayPorts(10002, 10003)),
        new_id=lambda: f"{ids}{next(count)}", new_branch=lambda: f"z9hG4bK{branch}{next(count)}",
    )


def new_call(body: bytes | None = None, devices: int = 1, ring_timeout: float = 30.0) -> tuple[Call, Tx, list[Action]]:
    call = bare_call(body)
    tx = call.tx
    call.add(CallPark())  # as the service does for every call
    devs = tuple(Device(f"sip:102@10.0.0.{i + 1}:5060", Target("UDP", "198.51.100.1", 6000 + i), f"phone{i}") for i in range(devices))
    return call, tx, call.start([Stage(devs, ring_timeout, "sip:102@acme.example", "102")], 1000.0)


def of(actions: list[Action], kind: type) -> list:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, kind)]


def responses(actions: list[Action]) -> list[Response]:
    return [a.response for a in of(actions, Respond)]


def answer_to(req: Request, status: int, tag: str, body: bytes = b"", contact: str = "<sip:102@10.0.0.1:5060>") -> Response:
    resp = make_response(req, status, to_tag=tag)
    if status != 100:
        resp.add("Contact", contact)
    if body:
        resp.add("Content-Type", "application/sdp")
    resp.add("Content-Length", str(len(body)))
    resp.body = body
    resp.add("Server", "callee-phone")
    return resp


def fork_invites(actions: list[Action]) -> list[SendRequest]:
    return [a for a in of(actions, SendRequest) if a.ref.kind == "invite"]


def test_start_rings_every_device_with_own_call_id_and_relay_sdp() -> None:
    call, _, out = new_call(devices=2)
    assert [r.status for r in responses(out)] == [100]
    sends = fork_invites(out)
    assert len(sends) == 2
    ids = {s.request.call_id for s in sends}
    assert len(ids) == 2 and "a-call@phone" not in ids
    for send in sends:
        req = send.request
        assert req.from_.tag not in (None, "caller") and req.cseq.number == 1
        assert str(req.from_.uri) == "sip:101@acme.example" and req.from_.display_name == "Reception"
        offer = parse_sdp(req.body)
        assert offer.connection is not None and offer.connection.address == "203.0.113.1"
        assert offer.media[0].line.port == 10002 and offer.media[0].line.formats == ("0", "8", "101")
    assert SetMedia("a", ("192.168.1.10", 4000), 101) in out
    assert {b.leg for b in of(out, BindDialog)} == {"a", "fork:0", "fork:1"}


def test_first_2xx_wins_others_cancelled_with_reason_after_provisional() -> None:
    call, tx, out = new_call(devices=2)
    f0, f1 = fork_invites(out)
    # Fork 1 has not sent a provisional yet: its CANCEL must wait (RFC 3261 §9.1).
    ringing = call.on_response(f0.ref, answer_to(f0.request, 180, "t0"), 1001.0)
    assert [r.status for r in responses(ringing)] == [180]
    out = call.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    resp = responses(out)
    assert [r.status for r in resp] == [200]
    answer = parse_sdp(resp[0].body)
    assert answer.media[0].line.port == 10000 and answer.connection is not None and answer.connection.address == "203.0.113.1"
    assert SetMedia("b", ("10.0.0.1", 5000), 101) in out
    acks = of(out, SendRaw)
    assert len(acks) == 1 and acks[0].data.startswith(b"ACK sip:102@10.0.0.1:5060 SIP/2.0")
    assert not [a for a in of(out, SendRequest) if a.ref.kind == "cancel"]
    later = call.on_response(f1.ref, answer_to(f1.request, 180, "t1"), 1002.5)
    cancels = [a for a in of(later, SendRequest) if a.ref.kind == "cancel"]
    assert len(cancels) == 1
    cancel = cancels[0].request
    assert cancel.method == "CANCEL" and cancel.get("Reason") == COMPLETED_ELSEWHERE
    assert cancel.vias[0].branch == f1.request.vias[0].branch and cancel.cseq.number == 1
    assert call.record.answered == 1002.0 and call.phase is Phase.ANSWERED


def test_late_2xx_from_cancelled_fork_is_acked_and_byed() -> None:
    call, _, out = new_call(devices=2)
    f0, f1 = fork_invites(out)
    call.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    late = call.on_response(f1.ref, answer_to(f1.request, 200, "t1", sdp("10.0.0.2", 5002)), 1002.1)
    assert len(of(late, SendRaw)) == 1
    byes = [a for a in of(late, SendRequest) if a.request.method == "BYE"]
    assert len(byes) == 1 and byes[0].request.call_id == f1.request.call_id
    assert not responses(late)


def test_caller_cancel_cancels_every_fork_and_ends_call() -> None:
    call, tx, out = new_call(devices=2)
    f0, f1 = fork_invites(out)
    call.on_response(f0.ref, answer_to(f0.request, 180, "t0"), 1001.0)
    call.on_response(f1.ref, answer_to(f1.request, 100, "t1"), 1001.0)
    out = call.on_cancel(1003.0)
    assert [r.status for r in responses(out)] == [487]
    assert len([a for a in of(out, SendRequest) if a.ref.kind == "cancel"]) == 2
    ended = of(out, CallEnded)
    assert ended and ended[0].record.disposition == "cancelled" and ended[0].record.hangup_by == "caller"
    assert ended[0].record.billed_seconds == 0
    # The forks answer the CANCEL with 487; nothing more goes to the caller.
    assert call.on_response(f0.ref, answer_to(f0.request, 487, "t0"), 1003.1) == []


def test_busy_after_early_media_bills_zero() -> None:
    call, tx, out = new_call()
    (f0,) = fork_invites(out)
    early = call.on_response(f0.ref, answer_to(f0.request, 183, "t0", sdp("10.0.0.1", 5000)), 1001.0)
    resp = responses(early)
    assert [r.status for r in resp] == [183] and parse_sdp(resp[0].body).media[0].line.port == 10000
    out = call.on_response(f0.ref, answer_to(f0.request, 486, "t0"), 1005.0)
    assert [r.status for r in responses(out)] == [486]
    rec = of(out, CallEnded)[0].record
    assert (rec.disposition, rec.billed_seconds, rec.answered) == ("busy", 0, None)


def test_best_failure_is_chosen_when_every_fork_fails() -> None:
    call, _, out = new_call(devices=3)
    f0, f1, f2 = fork_invites(out)
    assert call.on_response(f0.ref, answer_to(f0.request, 503, "t0"), 1001.0) == []
    assert call.on_response(f1.ref, None, 1001.0) == []  # timed out
    out = call.on_response(f2.ref, answer_to(f2.request, 486, "t2"), 1001.0)
    assert [r.status for r in responses(out)] == [486]
    call2, _, out2 = new_call(devices=2)
    g0, g1 = fork_invites(out2)
    call2.on_response(g0.ref, answer_to(g0.request, 503, "t0"), 1001.0)
    final = call2.on_response(g1.ref, None, 1001.0)
    assert [r.status for r in responses(final)] == [480]
    assert of(final, CallEnded)[0].record.disposition == "no answer"


def test_ring_timeout_cancels_and_answers_480() -> None:
    call, _, out = new_call(devices=1, ring_timeout=30)
    (f0,) = fork_invites(out)
    call.on_response(f0.ref, answer_to(f0.request, 180, "t0"), 1001.0)
    assert call.get_timer() == 1030.0
    assert call.handle_timer(1029.9) == []
    out = call.handle_timer(1030.0)
    assert [r.status for r in responses(out)] == [480]
    assert [a.request.method for a in of(out, SendRequest)] == ["CANCEL"]
    assert of(out, CallEnded)[0].record.disposition == "no answer"


def test_no_device_and_no_common_codec() -> None:
    ids = itertools.count(1)
    empty = Call(
        record=CallRecord("r2", "acme", "101", "102", "internal", 1.0), invite=invite(sdp()), tx=Tx("t"), source=A_SRC,
        locality=Locality({"UDP": ("203.0.113.1", 5060)}),
        media=MediaPorts("203.0.113.1", RelayPorts(10000, 10001), RelayPorts(10002, 10003)),
        new_id=lambda: f"x{next(ids)}", new_branch=lambda: f"z9hG4bKx{next(ids)}",
    )
    out = empty.start([Stage((), 30, "sip:102@acme.example", "102")], 1.0)
    assert [r.status for r in responses(out)] == [100, 480]
    g729_only = sdp().replace(b"RTP/AVP 0 8 18 101", b"RTP/AVP 18")
    _, _, out = new_call(body=g729_only)
    assert [r.status for r in responses(out)] == [100, 488]
    assert of(out, CallEnded)[0].record.disposition == "failed"


def answered_call() -> tuple[Call, SendRequest, list[Action]]:
    call, _, out = new_call()
    (f0,) = fork_invites(out)
    out = call.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    return call, f0, out


def in_dialog(call: Call, leg: str, method: str, cseq: int, body: bytes = b"") -> Request:
    """A request from the phone on ``leg`` inside its dialog with the switch."""
    if leg == "a":
        head = (f"{method} sip:b2bua@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5070;branch=z9hG4bKin{cseq}\r\n"
                f"From: <sip:101@acme.example>;tag=caller\r\nTo: <sip:102@acme.example>;tag={call.a_tag}\r\n"
                f"Call-ID: a-call@phone\r\nCSeq: {cseq} {method}\r\nContact: <sip:101@192.168.1.10:5070>\r\n")
    else:
        assert call.b is not None
        head = (f"{method} sip:b2bua@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbin{cseq}\r\n"
                f"From: <sip:102@acme.example>;tag=t0\r\nTo: <sip:101@acme.example>;tag={call.b.local_tag}\r\n"
                f"Call-ID: {call.b.call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:102@10.0.0.1:5060>\r\n")
    if body:
        head += "Content-Type: application/sdp\r\n"
    msg = parse_message(f"{head}Max-Forwards: 70\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    assert isinstance(msg, Request)
    return msg


def test_2xx_retransmitted_until_ack_then_bye_ends_both_legs() -> None:
    call, f0, out = answered_call()
    assert call.get_timer() == 1002.5
    again = call.handle_timer(1002.5)
    assert len(of(again, SendRaw)) == 1 and of(again, SendRaw)[0].data.startswith(b"SIP/2.0 200 OK")
    assert call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.6) == []
    assert call.get_timer() is None
    bye = in_dialog(call, "b", "BYE", 1)
    out = call.on_request("b", Tx("bye"), bye, 1012.0)
    assert [r.status for r in responses(out)] == [200]
    sent = of(out, SendRequest)
    assert len(sent) == 1 and sent[0].request.method == "BYE" and sent[0].request.call_id == "a-call@phone"
    assert sent[0].target == A_SRC and str(sent[0].request.uri) == "sip:101@192.168.1.10:5070"
    rec = of(out, CallEnded)[0].record
    assert (rec.disposition, rec.hangup_by, rec.billed_seconds) == ("answered", "callee", 10)


def test_missing_ack_hangs_up_after_64_t1() -> None:
    call, _, _ = answered_call()
    out: list[Action] = []
    now = 1002.0
    while call.get_timer() is not None and now < 1100:
        now = call.get_timer() or now
        out += call.handle_timer(now)
    assert now == 1002.0 + 32.0
    assert len([a for a in of(out, SendRequest) if a.request.method == "BYE"]) == 2
    assert of(out, CallEnded)[0].record.cause == "no ACK from the caller"


def test_reinvite_hold_is_forwarded_with_rewritten_sdp_and_answer_comes_back() -> None:
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.6)
    hold = sdp("192.168.1.10", 4000).replace(b"a=sendrecv", b"a=sendonly")
    out = call.on_request("a", Tx("re"), in_dialog(call, "a", "INVITE", 3, hold), 1010.0)
    assert [r.status for r in responses(out)] == [100]
    (fwd,) = of(out, SendRequest)
    assert fwd.request.method == "INVITE" and fwd.request.cseq.number == 2
    offered = parse_sdp(fwd.request.body)
    assert offered.media[0].line.port == 10002 and offered.media[0].direction == "sendonly"
    # A second re-INVITE while this one is pending: 491.
    glare = call.on_request("b", Tx("glare"), in_dialog(call, "b", "INVITE", 2, sdp("10.0.0.1", 5000)), 1010.1)
    assert [r.status for r in responses(glare)] == [491]
    back = call.on_response(fwd.ref, answer_to(fwd.request, 200, "t0", sdp("10.0.0.1", 5000).replace(b"sendrecv", b"recvonly")), 1010.2)
    (resp,) = responses(back)
    assert resp.status == 200 and parse_sdp(resp.body).media[0].line.port == 10000
    assert parse_sdp(resp.body).media[0].direction == "recvonly"
    assert [a.data[:3] for a in of(back, SendRaw)] == [b"ACK"]


def test_info_and_update_pass_through_options_answered_here() -> None:
    call, _, _ = answered_call()
    info = in_dialog(call, "a", "INFO", 3)
    info.headers.insert(-1, Header("Content-Type", "application/dtmf-relay"))
    info.body = b"Signal=5\r\nDuration=160\r\n"
    info.set("Content-Length", str(len(info.body)))
    out = call.on_request("a", Tx("info"), info, 1005.0)
    (fwd,) = of(out, SendRequest)
    assert fwd.request.method == "INFO" and fwd.request.body == info.body
    assert fwd.request.get("Content-Type") == "application/dtmf-relay"
    back = call.on_response(fwd.ref, answer_to(fwd.request, 200, "t0"), 1005.1)
    assert [r.status for r in responses(back)] == [200]
    opts = call.on_request("b", Tx("o"), in_dialog(call, "b", "OPTIONS", 2), 1005.2)
    assert [r.status for r in responses(opts)] == [200] and not of(opts, SendRequest)
    stale = call.on_request("a", Tx("s"), in_dialog(call, "a", "INFO", 3), 1005.3)
    assert [r.status for r in responses(stale)] == [500]  # CSeq did not grow (RFC 3261 §12.2.2)


def test_late_offer_acks_callee_with_callers_answer() -> None:
    call, _, out = new_call(body=b"")
    (f0,) = fork_invites(out)
    assert f0.request.body == b""
    out = call.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    assert not of(out, SendRaw)  # the ACK waits for the caller's answer
    (resp,) = responses(out)
    assert parse_sdp(resp.body).media[0].line.port == 10000
    ack = in_dialog(call, "a", "ACK", 2, sdp("192.168.1.10", 4000))
    out = call.on_ack("a", ack, 1002.3)
    (raw,) = of(out, SendRaw)
    assert raw.data.startswith(b"ACK ") and b"m=audio 10002 RTP/AVP" in raw.data
    assert SetMedia("a", ("192.168.1.10", 4000), 101) in out


def test_requests_before_answer_and_unknown_methods() -> None:
    call, _, out = new_call()
    (f0,) = fork_invites(out)
    early = call.on_request("a", Tx("u"), in_dialog(call, "a", "UPDATE", 3), 1001.0)
    assert [r.status for r in responses(early)] == [481]
    call.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    out = call.on_request("a", Tx("r"), in_dialog(call, "a", "PUBLISH", 3), 1003.0)
    assert [r.status for r in responses(out)] == [501]
    out = call.on_request("a", Tx("r"), in_dialog(call, "a", "REFER", 4), 1003.0)
    assert [(r.status, r.reason) for r in responses(out)] == [(400, "Bad Request")]  # no Refer-To
    hangup = call.hang_up(1004.0, "switch", "no RTP for 60 s")
    assert len(of(hangup, SendRequest)) == 2
    assert of(hangup, CallEnded)[0].record.cause == "no RTP for 60 s"
    assert call.hang_up(1005.0, "switch", "again") == []


TRUNK = Target("UDP", "198.51.100.50", 5060)


def designated_call() -> tuple[Call, list[Action]]:
    call = bare_call(record=CallRecord("r3", "acme", "101", "105", "internal", 1000.0), ids="d", branch="d")
    primary = Device("sip:0909000001@trunk.example:5060", TRUNK, "trunk", "sip:02873001234@trunk.example", ("user", "pw"))
    backup = Device("sip:0909000002@trunk.example:5060", TRUNK, "trunk", "sip:02873001234@trunk.example", ("user", "pw"))
    stages = [Stage((primary,), 20, primary.uri, "0909000001"), Stage((backup,), 30, backup.uri, "0909000002")]
    return call, call.start(stages, 1000.0)


def test_designated_backup_rings_only_after_primary_times_out() -> None:
    call, out = designated_call()
    (first,) = fork_invites(out)
    assert str(first.request.uri).startswith("sip:0909000001@")
    assert str(first.request.from_.uri) == "sip:02873001234@trunk.example"
    assert first.request.get("P-Asserted-Identity") == "<sip:02873001234@trunk.example>"
    call.on_response(first.ref, answer_to(first.request, 180, "p"), 1001.0)
    assert call.get_timer() == 1020.0
    out = call.handle_timer(1020.0)
    assert [a.request.method for a in of(out, SendRequest)] == ["CANCEL", "INVITE"]
    assert not responses(out)
    second = fork_invites(out)[0]
    assert str(second.request.uri).startswith("sip:0909000002@")
    done = call.on_response(second.ref, answer_to(second.request, 200, "b", sdp("198.51.100.60", 7000)), 1025.0)
    assert [r.status for r in responses(done)] == [200]
    assert call.record.answered_by == "0909000002"


def test_designated_backup_rings_when_primary_is_busy_and_trunk_challenge_is_answered() -> None:
    call, out = designated_call()
    (first,) = fork_invites(out)
    challenge = answer_to(first.request, 407, "p")
    challenge.add("Proxy-Authenticate", 'Digest realm="trunk.example", nonce="abc", qop="auth"')
    retry = call.on_response(first.ref, challenge, 1000.1)
    (again,) = fork_invites(retry)
    assert again.request.cseq.number == 2 and again.request.call_id == first.request.call_id
    assert again.request.vias[0].branch != first.request.vias[0].branch
    assert (again.request.get("Proxy-Authorization") or "").startswith('Digest username="user", realm="trunk.example"')
    # A second challenge is not answered again: the primary failed, the backup rings.
    out = call.on_response(again.ref, answer_to(again.request, 486, "p"), 1001.0)
    (backup,) = fork_invites(out)
    assert str(backup.request.uri).startswith("sip:0909000002@") and not responses(out)
    final = call.on_response(backup.ref, answer_to(backup.request, 480, "b"), 1002.0)
    assert [r.status for r in responses(final)] == [486]  # the best failure over both stages
    assert of(final, CallEnded)[0].record.disposition == "busy"


def test_callee_2xx_with_unreadable_record_route_is_acked_byed_and_the_call_fails() -> None:
    call, _, out = new_call()
    (f0,) = fork_invites(out)
    answer = answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000))
    answer.headers.insert(-1, Header("Record-Route", "<sip:p1;lr"))  # no closing bracket
    out = call.on_response(f0.ref, answer, 1002.0)
    (ack,) = of(out, SendRaw)
    assert ack.data.startswith(b"ACK sip:102@10.0.0.1:5060 ") and ack.target == f0.target
    (bye,) = of(out, SendRequest)
    assert bye.request.method == "BYE" and bye.target == f0.target and "cause=502" in (bye.request.get("Reason") or "")
    assert [r.status for r in responses(out)] == [480]
    rec = of(out, CallEnded)[0].record  # as for any 5xx from the only device: 480 to the caller
    assert (rec.disposition, rec.billed_seconds, rec.answered) == ("no answer", 0, None)
    # A retransmission of that 2xx is ACKed again, and nothing more.
    assert [a.data for a in call.on_response(f0.ref, answer, 1002.5) if isinstance(a, SendRaw)] == [ack.data]


def test_timers_run_on_the_calls_clock_and_the_history_reads_wall_clock_time() -> None:
    call, _, out = new_call()
    call.wall_offset = 1_800_000_000.0 - 1000.0  # the call's monotonic 1000.0 is this wall-clock second
    (f0,) = fork_invites(out)
    call.on_response(f0.ref, answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000)), 1002.0)
    assert call.get_timer() == 1002.5  # the 2xx retransmission: on the call's own clock
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.6)
    out = call.on_request("b", Tx("bye"), in_dialog(call, "b", "BYE", 1), 1012.0)
    rec = of(out, CallEnded)[0].record
    assert rec.answered == 1_800_000_002.0 and rec.ended == 1_800_000_012.0 and rec.billed_seconds == 10
