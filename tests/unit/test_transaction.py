"""RFC 3261 §17 machines, with time stepped by hand."""

from __future__ import annotations

import pytest

from softswitch.sip.errors import LocalProtocolError
from softswitch.sip.layer import AckReceived, CancelReceived, RequestReceived, StrayResponse, TransactionLayer
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import (
    ResponseReceived,
    State,
    Target,
    TimerConfig,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
)

from .sipmsg import request, response_to

UDP = Target("UDP", "127.0.0.1", 5062)
TCP = Target("TCP", "127.0.0.1", 5062, conn_id=7)
T = TimerConfig()


def sends(outputs: list[object]) -> list[bytes]:
    return [o.data for o in outputs if isinstance(o, Transmit)]


def new_server(layer: TransactionLayer, req: Request, target: Target = UDP):  # type: ignore[no-untyped-def]
    (event,) = layer.receive_request(req, target, 0.0)
    assert isinstance(event, RequestReceived)
    return event.transaction


def test_non_invite_server_absorbs_and_answers_retransmissions() -> None:
    layer = TransactionLayer()
    req = request()
    tx = new_server(layer, req)
    assert layer.receive_request(req, UDP, 0.1) == []  # Trying: absorbed
    final = response_to(req, 200)
    assert sends(layer.respond(tx, final, 0.2)) == [bytes(final)]
    assert sends(layer.receive_request(req, UDP, 1.0)) == [bytes(final)]  # Completed: resend
    assert layer.get_timer() == pytest.approx(0.2 + 64 * T.t1)  # Timer J
    out = layer.handle_timer(0.2 + 64 * T.t1)
    assert any(isinstance(o, TransactionTerminated) for o in out)
    assert layer.server == {}


def test_non_invite_server_reliable_terminates_at_once() -> None:
    layer = TransactionLayer()
    req = request(transport="TCP")
    tx = new_server(layer, req, TCP)
    out = layer.respond(tx, response_to(req, 200), 0.0)
    assert tx.state is State.TERMINATED and any(isinstance(o, TransactionTerminated) for o in out)
    assert layer.get_timer() is None


def test_provisional_then_retransmission_resends_provisional() -> None:
    layer = TransactionLayer()
    req = request()
    tx = new_server(layer, req)
    trying = response_to(req, 100)
    layer.respond(tx, trying, 0.0)
    assert sends(layer.receive_request(req, UDP, 0.5)) == [bytes(trying)]


def test_tu_cannot_respond_twice_with_a_final() -> None:
    layer = TransactionLayer()
    req = request()
    tx = new_server(layer, req)
    layer.respond(tx, response_to(req, 200), 0.0)
    with pytest.raises(LocalProtocolError):
        layer.respond(tx, response_to(req, 404), 0.1)


def test_invite_server_failure_retransmits_with_timer_g_until_ack() -> None:
    layer = TransactionLayer()
    inv = request("INVITE")
    tx = new_server(layer, inv)
    busy = response_to(inv, 486)
    layer.respond(tx, busy, 0.0)
    times = []
    now = 0.0
    for _ in range(5):
        now = layer.get_timer() or 0.0
        if sends(layer.handle_timer(now)):
            times.append(now)
    assert times == pytest.approx([0.5, 1.5, 3.5, 7.5, 11.5])  # G doubles up to T2 = 4
    ack = request("ACK", cseq=1, to_tag="t1")
    assert layer.receive_request(ack, UDP, now) == []
    assert tx.state is State.CONFIRMED
    assert layer.get_timer() == pytest.approx(now + T.t4)  # Timer I
    layer.handle_timer(now + T.t4)
    assert tx.state is State.TERMINATED and layer.server == {}


def test_invite_server_timer_h_times_out_without_ack() -> None:
    layer = TransactionLayer()
    inv = request("INVITE")
    tx = new_server(layer, inv)
    layer.respond(tx, response_to(inv, 486), 0.0)
    out = layer.handle_timer(64 * T.t1)
    assert any(isinstance(o, TransactionTimedOut) for o in out)
    assert tx.state is State.TERMINATED


def test_invite_server_2xx_accepted_state_rfc6026() -> None:
    layer = TransactionLayer()
    inv = request("INVITE")
    tx = new_server(layer, inv)
    ok = response_to(inv, 200)
    layer.respond(tx, ok, 0.0)
    assert tx.state is State.ACCEPTED
    assert layer.receive_request(inv, UDP, 0.3) == []  # retransmitted INVITE absorbed
    assert sends(layer.respond(tx, ok, 0.5)) == [bytes(ok)]  # TU retransmits the 2xx
    ack = request("ACK", branch="z9hG4bKother", to_tag="t1")
    assert layer.receive_request(ack, UDP, 0.6) == [AckReceived(ack, UDP)]
    layer.handle_timer(64 * T.t1)
    assert tx.state is State.TERMINATED


def test_cancel_matches_its_invite() -> None:
    layer = TransactionLayer()
    inv = request("INVITE")
    tx = new_server(layer, inv)
    cancel = request("CANCEL")
    (event,) = layer.receive_request(cancel, UDP, 0.1)
    assert isinstance(event, CancelReceived) and event.invite is tx


def test_rfc2543_matching_without_cookie() -> None:
    layer = TransactionLayer()
    req = request(branch="z9hG4bK")  # RFC 4475 §3.2.1: the cookie alone is no identifier
    tx = new_server(layer, req)
    final = response_to(req, 200)
    layer.respond(tx, final, 0.0)
    assert sends(layer.receive_request(req, UDP, 0.5)) == [bytes(final)]
    other = request(branch="z9hG4bK", cseq=2)
    assert isinstance(layer.receive_request(other, UDP, 0.6)[0], RequestReceived)


def test_non_invite_client_timers_e_f() -> None:
    layer = TransactionLayer()
    req = request(branch=layer.new_branch())
    tx, out = layer.send_request(req, UDP, 0.0)
    assert sends(out) == [bytes(req)]
    fired = []
    while True:
        when = layer.get_timer()
        assert when is not None
        out = layer.handle_timer(when)
        if any(isinstance(o, TransactionTimedOut) for o in out):
            break
        fired.append(when)
    assert when == pytest.approx(64 * T.t1)
    assert fired[:5] == pytest.approx([0.5, 1.5, 3.5, 7.5, 11.5])
    assert tx.state is State.TERMINATED and layer.client == {}


def test_non_invite_client_final_then_timer_k() -> None:
    layer = TransactionLayer()
    req = request(branch=layer.new_branch())
    tx, _ = layer.send_request(req, UDP, 0.0)
    resp = response_to(req, 200)
    out = layer.receive_response(resp, 0.1)
    assert [(type(o), getattr(o, "last", None)) for o in out] == [(ResponseReceived, True)]  # the TU's last word
    assert tx.request is None  # lingering on bytes only
    assert layer.receive_response(resp, 0.2) == []  # retransmission absorbed
    layer.handle_timer(0.1 + T.t4)
    assert tx.state is State.TERMINATED


def test_invite_client_failure_sends_ack_and_absorbs_retransmissions() -> None:
    layer = TransactionLayer()
    inv = request("INVITE", branch=layer.new_branch())
    tx, _ = layer.send_request(inv, UDP, 0.0)
    busy = response_to(inv, 486)
    out = layer.receive_response(busy, 0.2)
    (ack_bytes,) = sends(out)
    assert [o.last for o in out if isinstance(o, ResponseReceived)] == [True]
    ack = parse_message(ack_bytes)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.cseq.number == inv.cseq.number and ack.to.tag == "t1"
    assert ack.vias[0].branch == inv.vias[0].branch
    assert sends(layer.receive_response(busy, 0.4)) == [ack_bytes]
    layer.handle_timer(0.2 + 32.0)
    assert tx.state is State.TERMINATED


def test_invite_client_timer_a_stops_on_provisional_and_2xx_is_accepted() -> None:
    layer = TransactionLayer()
    inv = request("INVITE", branch=layer.new_branch())
    tx, _ = layer.send_request(inv, UDP, 0.0)
    assert sends(layer.handle_timer(0.5)) == [bytes(inv)]
    layer.receive_response(response_to(inv, 180), 0.6)
    assert "A" not in tx.deadlines
    ok = response_to(inv, 200)
    assert [(type(o), getattr(o, "last", None)) for o in layer.receive_response(ok, 1.0)] == [(ResponseReceived, False)]
    assert tx.state is State.ACCEPTED
    assert [type(o) for o in layer.receive_response(ok, 1.5)] == [ResponseReceived]  # to the TU again


def test_stray_response() -> None:
    layer = TransactionLayer()
    resp = response_to(request(), 200)
    assert layer.receive_response(resp, 0.0) == [StrayResponse(resp)]


def test_states_count_live_transactions_by_side_method_and_state() -> None:
    layer = TransactionLayer()
    register = request(method="REGISTER")
    tx = new_server(layer, register)
    invite = request(method="INVITE", branch="z9hG4bK-invite-1")
    new_server(layer, invite)
    layer.send_request(request(method="OPTIONS", branch=layer.new_branch()), UDP, 0.0)
    assert layer.states() == {"client.OPTIONS.trying": 1, "server.INVITE.proceeding": 1, "server.REGISTER.trying": 1}
    layer.respond(tx, response_to(register, 200), 0.1)
    assert layer.states()["server.REGISTER.completed"] == 1
    layer.handle_timer(0.1 + 64 * T.t1)  # Timer J ends the REGISTER's; the OPTIONS times out (Timer F)
    assert layer.states() == {"server.INVITE.proceeding": 1}
