"""RFC 4028 session timers on each leg of the pure B2BUA call (explicit ``now``)."""

from __future__ import annotations

import itertools

from softswitch.b2bua import session_timer
from softswitch.b2bua.actions import CallEnded, Device, Locality, MediaPorts, SendRaw, SendRequest, Stage
from softswitch.b2bua.call import Call
from softswitch.b2bua.record import CallRecord
from softswitch.sdp.model import parse_sdp
from softswitch.sdp.offer_answer import RelayPorts
from softswitch.sip.message import Header, Request, Response, parse_message
from softswitch.sip.transaction import Target

from .test_call_core import A_SRC, Tx, answer_to, fork_invites, in_dialog, of, responses, sdp


def caller_invite(*extra: str) -> Request:
    body = sdp()
    head = (
        "INVITE sip:102@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5070;branch=z9hG4bKa1;rport=5070\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=caller\r\nTo: <sip:102@acme.example>\r\n"
        "Call-ID: a-call@phone\r\nCSeq: 2 INVITE\r\nContact: <sip:101@192.168.1.10:5070>\r\n"
        + "".join(f"{h}\r\n" for h in extra) + "Content-Type: application/sdp\r\n"
    )
    msg = parse_message(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert isinstance(msg, Request)
    return msg


def call_with(*extra: str, callee: tuple[str, ...] = ()) -> tuple[Call, list, Response]:  # type: ignore[type-arg]
    """A call answered at t=1002 (callee's 2xx carries ``callee`` headers); returns the call,
    the actions of the answer and the 200 the caller got."""
    ids = itertools.count(1)
    call = Call(
        record=CallRecord("rec1", "acme", "101", "102", "internal", 1000.0), invite=caller_invite(*extra), tx=Tx("a"),
        source=A_SRC, locality=Locality({"UDP": ("203.0.113.1", 5060)}),
        media=MediaPorts("203.0.113.1", RelayPorts(10000, 10001), RelayPorts(10002, 10003)),
        new_id=lambda: f"id{next(ids)}", new_branch=lambda: f"z9hG4bKb{next(ids)}",
    )
    device = Device("sip:102@10.0.0.1:5060", Target("UDP", "198.51.100.1", 6000), "phone")
    started = call.start([Stage((device,), 30.0, "sip:102@acme.example", "102")], 1000.0)
    (f0,) = fork_invites(started)
    assert "timer" in f0.request.values("Supported")  # the callee may ask for one
    answer = answer_to(f0.request, 200, "t0", sdp("10.0.0.1", 5000))
    for header in callee:
        name, _, value = header.partition(": ")
        answer.headers.insert(-1, Header(name, value))
    out = call.on_response(f0.ref, answer, 1002.0)
    (ok,) = [r for r in responses(out) if r.status == 200]
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    return call, out, ok


def run_until(call: Call, end: float) -> tuple[list, float]:  # type: ignore[type-arg]
    out: list = []  # type: ignore[type-arg]
    now = 0.0
    while (due := call.get_timer()) is not None and due <= end:
        now = due
        out += call.handle_timer(now)
    return out, now


def test_parse_session_expires() -> None:
    assert session_timer.parse_session_expires("1800;refresher=uac") == session_timer.SessionExpires(1800, "uac")
    assert session_timer.parse_session_expires(" 90 ; Refresher=UAS") == session_timer.SessionExpires(90, "uas")
    assert session_timer.parse_session_expires("1800;refresher=nobody") == session_timer.SessionExpires(1800, None)
    assert session_timer.parse_session_expires("soon") is None and session_timer.parse_session_expires(None) is None


def test_caller_that_asks_refreshes_and_is_told_so() -> None:
    call, _, ok = call_with("Supported: timer", "Session-Expires: 1800")
    assert ok.get("Session-Expires") == "1800;refresher=uac"
    assert "timer" in ok.values("Require") and "timer" in ok.values("Supported")
    assert call.get_timer() == 1002.0 + 1800 - 32  # when its refresh would be late


def test_interval_below_90_s_gets_422_with_min_se() -> None:
    ids = itertools.count(1)
    call = Call(
        record=CallRecord("rec1", "acme", "101", "102", "internal", 1000.0),
        invite=caller_invite("Supported: timer", "Session-Expires: 60"), tx=Tx("a"), source=A_SRC,
        locality=Locality({"UDP": ("203.0.113.1", 5060)}),
        media=MediaPorts("203.0.113.1", RelayPorts(10000, 10001), RelayPorts(10002, 10003)),
        new_id=lambda: f"id{next(ids)}", new_branch=lambda: f"z9hG4bKb{next(ids)}",
    )
    out = call.start([], 1000.0)
    refused = [r for r in responses(out) if r.status >= 200]
    assert [(r.status, r.get("Min-SE")) for r in refused] == [(422, "90")]
    assert of(out, CallEnded)[0].record.cause == "session interval too small"


def test_caller_refresh_by_update_is_answered_here_and_renews_the_lease() -> None:
    call, _, _ = call_with("Supported: timer", "Session-Expires: 600")
    update = in_dialog(call, "a", "UPDATE", 3)
    update.headers.insert(-1, Header("Session-Expires", "600;refresher=uac"))
    out = call.on_request("a", Tx("up"), update, 1300.0)
    (resp,) = responses(out)
    assert resp.status == 200 and resp.get("Session-Expires") == "600;refresher=uac" and not resp.body
    assert of(out, SendRequest) == []  # the callee does not hear of it
    assert call.get_timer() == 1300.0 + 600 - 32


def test_caller_refresh_by_reinvite_with_the_same_sdp_gets_our_sdp_again() -> None:
    call, _, _ = call_with("Supported: timer", "Session-Expires: 600")
    reinvite = in_dialog(call, "a", "INVITE", 3, sdp())  # same o= line: nothing changed
    out = call.on_request("a", Tx("re"), reinvite, 1300.0)
    (resp,) = responses(out)
    assert resp.status == 200 and resp.get("Session-Expires") == "600;refresher=uac"
    assert parse_sdp(resp.body).media[0].line.port == 10000  # the relay's port, as at answer time
    assert of(out, SendRequest) == []
    assert call.on_ack("a", in_dialog(call, "a", "ACK", 3), 1300.1) == []


def test_no_refresh_from_the_caller_ends_the_call_on_both_legs() -> None:
    call, _, _ = call_with("Supported: timer", "Session-Expires: 600")
    out, now = run_until(call, 5000.0)
    assert now == 1002.0 + 600 - 32
    assert sorted(a.request.method for a in of(out, SendRequest)) == ["BYE", "BYE"]
    rec = of(out, CallEnded)[0].record
    assert (rec.hangup_by, rec.cause) == ("switch", "session timer expired (no refresh with the caller)")


def test_caller_without_timer_support_is_refreshed_by_the_switch_with_reinvite() -> None:
    call, _, ok = call_with("Session-Expires: 600")  # asked (say, by a proxy) but cannot refresh
    assert ok.get("Session-Expires") == "600;refresher=uas" and "timer" not in ok.values("Require")
    out, now = run_until(call, 1400.0)
    assert now == 1302.0  # half the interval
    (refresh,) = of(out, SendRequest)
    assert refresh.request.method == "INVITE" and refresh.target == A_SRC  # no UPDATE in its Allow
    assert refresh.request.get("Session-Expires") == "600;refresher=uac"
    assert len(refresh.request.get_all("Contact")) == 1
    assert parse_sdp(refresh.request.body).media[0].line.port == 10000
    reply = answer_to(refresh.request, 200, "caller", sdp())
    back = call.on_response(refresh.ref, reply, 1302.1)
    assert [a.data[:3] for a in of(back, SendRaw)] == [b"ACK"]
    assert call.get_timer() == 1302.1 + 300


def test_refresh_answered_481_ends_the_call() -> None:
    call, _, _ = call_with("Session-Expires: 600")
    out, _ = run_until(call, 1400.0)
    (refresh,) = of(out, SendRequest)
    gone = call.on_response(refresh.ref, answer_to(refresh.request, 481, "caller"), 1302.1)
    assert of(gone, CallEnded)[0].record.cause == "session refresh failed (481)"


def test_callee_that_names_the_switch_refresher_gets_update() -> None:
    call, _, ok = call_with(callee=("Session-Expires: 120;refresher=uac", "Require: timer",
                                    "Allow: INVITE, ACK, BYE, CANCEL, UPDATE"))
    assert ok.get("Session-Expires") is None  # the caller did not ask
    out, now = run_until(call, 1070.0)
    assert now == 1062.0
    (refresh,) = of(out, SendRequest)
    assert refresh.request.method == "UPDATE" and refresh.request.get("Session-Expires") == "120;refresher=uac"
    assert call.b is not None and refresh.request.call_id == call.b.call_id
    call.on_response(refresh.ref, answer_to(refresh.request, 200, "t0"), 1062.05)
    assert call.get_timer() == 1062.05 + 60
