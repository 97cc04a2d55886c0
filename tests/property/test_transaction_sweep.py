"""Every transaction machine against RFC 3261 §17 (and RFC 6026's Accepted state), state by
state and input by input (issue 13 item 3: ``timer_B`` fired in Proceeding and raised).

The expectations are written here from the RFC's figures, not read from the tables:
* every timer of a machine, in every state, either acts (in the states RFC 3261 Figures 5-8
  give it) or is ignored: no output, no change;
* what the peer can send (a retransmitted request, an ACK, a response) never raises in a state
  the machine can be in;
* only the TU's own misuse (a second final response) is refused, with ``LocalProtocolError``;
  nothing else ever escapes.
A sweep covers every pair; Hypothesis then walks random sequences of inputs and clock steps,
with timers fired both when due and early (a deadline that raced a response)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import LocalProtocolError
from softswitch.sip.transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    Output,
    ServerTransaction,
    State,
    Target,
    TimerConfig,
    Transaction,
)

from ..unit.sipmsg import request, response_to

S = State
MACHINES: list[type[Transaction]] = [ServerTransaction, InviteServerTransaction, ClientTransaction, InviteClientTransaction]
LETTERS = [*"ABDEFGHIJKLM", "cancel"]
TIMERS = {  # RFC 3261 Table 4, RFC 6026 §8.11 (L) and §8.4 (M), and §9.1's 64*T1 after a CANCEL
    ServerTransaction: ("J",),
    InviteServerTransaction: ("G", "H", "I", "L"),
    ClientTransaction: ("E", "F", "K"),
    InviteClientTransaction: ("A", "B", "D", "M", "cancel"),
}
REACHABLE = {  # the states in each machine's figure
    ServerTransaction: {S.TRYING, S.PROCEEDING, S.COMPLETED, S.TERMINATED},  # Figure 8
    InviteServerTransaction: {S.PROCEEDING, S.COMPLETED, S.CONFIRMED, S.ACCEPTED, S.TERMINATED},  # Figure 7, RFC 6026
    ClientTransaction: {S.TRYING, S.PROCEEDING, S.COMPLETED, S.TERMINATED},  # Figure 6
    InviteClientTransaction: {S.CALLING, S.PROCEEDING, S.COMPLETED, S.ACCEPTED, S.TERMINATED},  # Figure 5, RFC 6026
}
# Where each timer does something (everywhere else it is stale and ignored).
ACTS = {
    (InviteClientTransaction, S.CALLING, "A"),  # retransmit, double (§17.1.1.2)
    (InviteClientTransaction, S.CALLING, "B"),  # time out: only Calling (Proceeding waits for a final)
    (InviteClientTransaction, S.COMPLETED, "D"),  # stop absorbing failure retransmissions
    (InviteClientTransaction, S.ACCEPTED, "M"),  # stop passing 2xx retransmissions up (RFC 6026)
    (InviteClientTransaction, S.PROCEEDING, "cancel"),  # a CANCEL never answered: give up (§9.1)
    (ClientTransaction, S.TRYING, "E"), (ClientTransaction, S.PROCEEDING, "E"),  # §17.1.2.2
    (ClientTransaction, S.TRYING, "F"), (ClientTransaction, S.PROCEEDING, "F"),
    (ClientTransaction, S.COMPLETED, "K"),
    (InviteServerTransaction, S.COMPLETED, "G"),  # retransmit the failure (§17.2.1)
    (InviteServerTransaction, S.COMPLETED, "H"),  # no ACK came
    (InviteServerTransaction, S.CONFIRMED, "I"),  # stop absorbing ACKs
    (InviteServerTransaction, S.ACCEPTED, "L"),  # RFC 6026 §7.1
    (ServerTransaction, S.COMPLETED, "J"),  # §17.2.2
}


def peer_inputs(cls: type[Transaction], state: State) -> set[str]:
    """What the peer's messages become in ``state`` (and, for an INVITE client, our CANCEL
    going out, which the TU may send at any time).  ACKs reach an INVITE server transaction
    only in Completed and Confirmed: in the other states the layer hands them to the TU (the
    ACK of a 2xx is the dialog's business, RFC 6026 §7.1)."""
    if cls is ServerTransaction:
        return {"request"}
    if cls is InviteServerTransaction:
        return {"request", "superseded"} | ({"ack"} if state in (S.COMPLETED, S.CONFIRMED) else set())
    if cls is ClientTransaction:
        return {"provisional", "final"}
    return {"provisional", "success", "final", "cancelled"}


def tu_inputs(cls: type[Transaction]) -> set[str]:
    if cls is ServerTransaction:
        return {"provisional", "final"}
    if cls is InviteServerTransaction:
        return {"provisional", "success", "final"}
    return set()


INPUTS = ["request", "ack", "superseded", "cancelled", "provisional", "success", "final", *(f"timer_{c}" for c in LETTERS)]
STATUS = {"provisional": 180, "success": 200, "final": 486}


def target(reliable: bool) -> Target:
    return Target("TCP", "127.0.0.1", 5062, 1) if reliable else Target("UDP", "127.0.0.1", 5062)


def method_of(cls: type[Transaction]) -> str:
    return "INVITE" if cls in (InviteServerTransaction, InviteClientTransaction) else "OPTIONS"


def fresh(cls: type[Transaction], reliable: bool, now: float = 0.0) -> Transaction:
    tx = cls(("k",), request(method_of(cls)), target(reliable), TimerConfig())
    if isinstance(tx, ClientTransaction):
        tx.start(now)
    return tx


def feed(tx: Transaction, event: str, now: float) -> list[Output]:
    """One input, as the layer or the TU would give it."""
    if event in STATUS:
        status = STATUS[event] if tx.method == "INVITE" or event != "success" else 200
        message = response_to(request(tx.method), status)
        if isinstance(tx, ServerTransaction):
            return tx.respond(message, now)
        assert isinstance(tx, ClientTransaction)
        return tx.receive_response(message, now)
    if event.startswith("timer_"):
        return tx._dispatch(event, now)
    return tx._dispatch(event, now)


def check_invariants(tx: Transaction, now: float, armed_before: dict[str, float] | None = None) -> None:
    assert isinstance(tx.state, State)
    if tx.state is S.TERMINATED:
        assert tx.deadlines == {}
    assert set(tx.deadlines) <= set(TIMERS[type(tx)]), "a machine arms only its own timers"
    for letter, when in tx.deadlines.items():
        if (armed_before or {}).get(letter) != when:
            assert when >= now, f"Timer {letter} armed in the past"


# --------------------------------------------------------------------------- the sweep

SWEEP = list(itertools.product(MACHINES, State, INPUTS, [False, True]))


@pytest.mark.parametrize("cls,state,event,reliable", SWEEP)
def test_every_state_and_input(cls: type[Transaction], state: State, event: str, reliable: bool) -> None:
    tx = fresh(cls, reliable)
    tx.state = state
    tx.deadlines.clear()
    if isinstance(tx, ServerTransaction):
        tx.last_response = bytes(response_to(request(tx.method), 486))
    letter = event.removeprefix("timer_") if event.startswith("timer_") else None

    if letter is not None and letter in TIMERS[cls]:
        # Fired when due, through handle_timer, as the layer does (which skips a terminated
        # transaction: there the input is given directly).
        if state is S.TERMINATED:
            out = tx._dispatch(event, 1.0)
        else:
            tx.deadlines[letter] = 1.0
            out = tx.handle_timer(1.0)
        if (cls, state, letter) in ACTS:
            assert out or tx.state is not state or tx.deadlines, f"Timer {letter} must act in {state.value}"
        else:
            assert (out, tx.state, tx.deadlines) == ([], state, {}), f"stale Timer {letter} must be ignored in {state.value}"
        check_invariants(tx, 1.0)
        return

    must_handle = state in REACHABLE[cls] and event in peer_inputs(cls, state)
    try:
        feed(tx, event, 1.0)
    except LocalProtocolError:
        assert not must_handle, f"{cls.__name__} refused the peer's {event!r} in {state.value}"
        return
    check_invariants(tx, 1.0)


def test_the_sweep_covers_every_timer_of_every_machine() -> None:
    for cls in MACHINES:
        for state, letter in itertools.product(State, TIMERS[cls]):
            assert (state, "timer_" + letter) in cls.TABLE, (cls.__name__, state, letter)


def test_timer_b_after_a_provisional_is_ignored_rfc3261_17_1_1_2() -> None:
    """The reported failure: an INVITE rings past 64*T1.  Proceeding waits for a final."""
    tx = fresh(InviteClientTransaction, reliable=False)
    assert isinstance(tx, InviteClientTransaction)
    tx.receive_response(response_to(request("INVITE"), 180), 0.2)
    assert tx.state is S.PROCEEDING and tx.deadlines == {}  # neither A nor B is left armed
    tx.deadlines["B"] = 32.0  # a deadline that raced the provisional
    assert tx.handle_timer(32.0) == [] and tx.state is S.PROCEEDING
    ok = response_to(request("INVITE"), 200)
    assert tx.receive_response(ok, 120.0)[0].response is ok  # type: ignore[union-attr]


# --------------------------------------------------------------------------- random walks

STEP = st.tuples(st.sampled_from([*INPUTS, "tick", "tick", "tick"]), st.floats(0.0, 40.0, allow_nan=False))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cls=st.sampled_from(MACHINES), reliable=st.booleans(), steps=st.lists(STEP, max_size=25))
def test_random_walks_raise_only_on_tu_misuse(cls: type[Transaction], reliable: bool, steps: list[tuple[str, float]]) -> None:
    now = 0.0
    tx = fresh(cls, reliable, now)
    for event, dt in steps:
        now += dt
        before, armed = tx.state, dict(tx.deadlines)
        letter = event.removeprefix("timer_") if event.startswith("timer_") else None
        if event == "tick":
            tx.handle_timer(now)
            assert tx.state is S.TERMINATED or all(when > now for when in tx.deadlines.values())
        elif letter is not None:
            if letter not in TIMERS[cls]:
                continue  # never armed by this machine: nothing can fire it
            tx.deadlines.pop(letter, None)  # fired early: its deadline raced another input
            tx._dispatch(event, now)
        elif event in peer_inputs(cls, tx.state):
            feed(tx, event, now)
        elif event in tu_inputs(cls):
            try:
                feed(tx, event, now)
            except LocalProtocolError:
                assert tx.state is before
        else:
            continue  # e.g. an ACK the layer passes to the TU
        check_invariants(tx, now, armed)
        assert tx.state in REACHABLE[cls]
        if before is S.TERMINATED:
            assert tx.state is S.TERMINATED


# --------------------------------------------------------------------------- the layer

EXCHANGE = st.lists(st.tuples(
    st.sampled_from(["rtx", "ack_same", "ack_new", "ack_2xx", "retry", "answer_first", "answer_retry", "tick"]),
    st.floats(0.0, 5.0, allow_nan=False),
), max_size=30)


@settings(max_examples=300, deadline=None)
@given(steps=EXCHANGE, reliable=st.booleans())
def test_challenge_exchanges_in_any_order(steps: list[tuple[str, float]], reliable: bool) -> None:
    """A 407 exchange with its messages in any order and at any time (issue 13 item 4): the
    layer raises nothing but the TU's misuse; an ACK is never answered nor made a request;
    once an ACK (either branch) or the authenticated retry has come after the 407, the 407 is
    never sent again; in the end only unanswered INVITEs remain, and the failure indexes hold
    only live transactions."""
    from softswitch.sip.layer import RequestReceived, TransactionLayer
    from softswitch.sip.transaction import Transmit

    layer = TransactionLayer()
    via = "TCP" if reliable else "UDP"
    tgt = target(reliable)
    first = request("INVITE", branch="z9hG4bK1", cseq=1, transport=via)
    retry = request("INVITE", branch="z9hG4bK2", cseq=2, transport=via)
    acks = {
        "ack_same": request("ACK", branch="z9hG4bK1", cseq=1, to_tag="c407", transport=via),
        "ack_new": request("ACK", branch="z9hG4bKnew", cseq=1, to_tag="c407", transport=via),
        "ack_2xx": request("ACK", branch="z9hG4bK2xx", cseq=2, to_tag="ok", transport=via),
    }
    challenge = response_to(first, 407, to_tag="c407")
    txs: dict[str, ServerTransaction] = {}
    (event,) = layer.receive_request(first, tgt, 0.0)
    assert isinstance(event, RequestReceived)
    txs["first"] = event.transaction
    now, challenged, done_with_challenge = 0.0, False, False
    for step, dt in steps:
        now += dt
        if step == "tick":
            out = layer.handle_timer(now)
        elif step in acks:
            out = layer.receive_request(acks[step], tgt, now)
            assert not any(isinstance(o, (RequestReceived, Transmit)) for o in out)
            done_with_challenge |= challenged and step != "ack_2xx"
        elif step == "rtx":
            out = layer.receive_request(first, tgt, now)
        elif step == "retry":
            out = layer.receive_request(retry, tgt, now)
            for o in out:
                if isinstance(o, RequestReceived):  # new, not its retransmission
                    txs["retry"] = o.transaction
                    done_with_challenge |= challenged
        else:
            tx = txs.get("first" if step == "answer_first" else "retry")
            if tx is None:
                continue
            answer = challenge if step == "answer_first" else response_to(retry, 200, to_tag="ok")
            try:
                out = layer.respond(tx, answer, now)
            except LocalProtocolError:
                continue  # the TU answering twice: its own bug, refused
            challenged |= step == "answer_first"
            if step == "answer_first":
                continue
        if done_with_challenge:
            assert bytes(challenge) not in [o.data for o in out if isinstance(o, Transmit)], step
    layer.handle_timer(now + 100.0)
    assert all(tx.state is S.PROCEEDING for tx in layer.server.values())
    live = set(map(id, layer.server.values()))
    assert all(id(tx) in live for tx in [*layer._failed.values(), *layer._failed_by_caller.values()])
