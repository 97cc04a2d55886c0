"""An INVITE that rings is never timed out by the transaction (RFC 3261 §17.1.1.2: Timer B
only matters in Calling); once we CANCEL it, a peer that never sends the final response is
given up 64*T1 later (§9.1), so neither the transaction nor the call it serves lingers."""

from __future__ import annotations

import pytest

from softswitch.sip.layer import LayerOutput, TransactionLayer
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import (
    InviteClientTransaction,
    ResponseReceived,
    State,
    Target,
    TimerConfig,
    TransactionTimedOut,
    Transmit,
)

from .sipmsg import request, response_to

UDP = Target("UDP", "127.0.0.1", 5062)
T = TimerConfig()


def run_until(layer: TransactionLayer, end: float) -> list[LayerOutput]:
    out: list[LayerOutput] = []
    while (when := layer.get_timer()) is not None and when <= end:
        out += layer.handle_timer(when)
    return out


def ringing(layer: TransactionLayer) -> tuple[InviteClientTransaction, Request]:
    inv = request("INVITE", branch=layer.new_branch())
    tx, _ = layer.send_request(inv, UDP, 0.0)
    assert isinstance(tx, InviteClientTransaction)
    layer.receive_response(response_to(inv, 180), 0.1)
    assert tx.state is State.PROCEEDING
    return tx, inv


def cancel_for(inv: Request) -> Request:
    text = bytes(inv).replace(b"INVITE sip:", b"CANCEL sip:", 1).replace(b" INVITE\r\n", b" CANCEL\r\n")
    msg = parse_message(text)
    assert isinstance(msg, Request) and msg.vias[0].branch == inv.vias[0].branch
    return msg


def test_a_ringing_invite_is_not_timed_out_by_timer_b() -> None:
    layer = TransactionLayer()
    tx, _ = ringing(layer)
    out = run_until(layer, 1000.0)
    assert not any(isinstance(o, TransactionTimedOut) for o in out)
    assert tx.state is State.PROCEEDING and tx.key in layer.client


def test_a_cancel_never_answered_with_a_final_gives_the_invite_up_after_64_t1() -> None:
    layer = TransactionLayer()
    tx, inv = ringing(layer)
    cancel_tx, out = layer.send_request(cancel_for(inv), UDP, 10.0)
    assert [o.data for o in out if isinstance(o, Transmit)] == [bytes(cancel_for(inv))]
    layer.receive_response(response_to(cancel_for(inv), 200), 10.1)  # the CANCEL itself is answered
    assert not any(isinstance(o, TransactionTimedOut) and o.transaction is tx for o in run_until(layer, 10.0 + 64 * T.t1 - 0.01))
    out = run_until(layer, 10.0 + 64 * T.t1)
    assert any(isinstance(o, TransactionTimedOut) and o.transaction is tx for o in out)
    assert tx.state is State.TERMINATED and tx.key not in layer.client


def test_the_487_before_then_ends_the_invite_as_usual() -> None:
    layer = TransactionLayer()
    tx, inv = ringing(layer)
    layer.send_request(cancel_for(inv), UDP, 10.0)
    out = layer.receive_response(response_to(inv, 487), 10.2)
    assert [o.last for o in out if isinstance(o, ResponseReceived)] == [True]
    assert "cancel" not in tx.deadlines
    assert tx.state is State.COMPLETED
    later = run_until(layer, 100.0)
    assert not any(isinstance(o, TransactionTimedOut) and o.transaction is tx for o in later)
    assert tx.state is State.TERMINATED  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above


@pytest.mark.parametrize("state", ["calling", "accepted"])
def test_a_cancel_outside_proceeding_arms_nothing(state: str) -> None:
    layer = TransactionLayer()
    inv = request("INVITE", branch=layer.new_branch())
    tx, _ = layer.send_request(inv, UDP, 0.0)
    if state == "accepted":
        layer.receive_response(response_to(inv, 200), 0.1)
    layer.send_request(cancel_for(inv), UDP, 0.2)
    assert "cancel" not in tx.deadlines
