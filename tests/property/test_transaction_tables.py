"""Every (state, input) pair of every transaction machine: handled, or refused as our own
protocol error; never another exception (h2's test_state_machines in spirit)."""

from __future__ import annotations

import itertools

import pytest

from softswitch.sip.errors import LocalProtocolError
from softswitch.sip.transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    ServerTransaction,
    State,
    Target,
    TimerConfig,
    Transaction,
)

from ..unit.sipmsg import request, response_to

MACHINES = [ServerTransaction, InviteServerTransaction, ClientTransaction, InviteClientTransaction]
INPUTS = ["request", "ack", "provisional", "success", "final", *(f"timer_{c}" for c in "ABDEFGHIJKLM")]


def build(cls: type[Transaction], state: State, target: Target) -> Transaction:
    tx = cls(("k",), request(method_of(cls)), target, TimerConfig())
    tx.state = state
    return tx


def method_of(cls: type[Transaction]) -> str:
    return "INVITE" if "Invite" in cls.__name__ else "OPTIONS"


def feed(tx: Transaction, event: str) -> None:
    req = request(tx.method)
    if event in ("provisional", "success", "final"):
        status = {"provisional": 180, "success": 200, "final": 486}[event]
        tx._dispatch(event, response_to(req, status), 1.0)
    else:
        tx._dispatch(event, 1.0)


@pytest.mark.parametrize("cls,state,event,reliable", [
    (cls, state, event, reliable)
    for cls, state, event, reliable in itertools.product(MACHINES, State, INPUTS, [False, True])
])
def test_every_state_input_pair(cls: type[Transaction], state: State, event: str, reliable: bool) -> None:
    target = Target("TCP" if reliable else "UDP", "127.0.0.1", 5062, 1)
    tx = build(cls, state, target)
    if (state, event) not in cls.TABLE:
        with pytest.raises(LocalProtocolError):
            feed(tx, event)
        return
    feed(tx, event)
    assert isinstance(tx.state, State)
    if tx.state is State.TERMINATED:
        assert tx.deadlines == {}
    for when in tx.deadlines.values():
        assert when >= 1.0
