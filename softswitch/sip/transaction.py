"""RFC 3261 §17 transaction state machines, with RFC 6026's Accepted state.

Theory of operation
-------------------
Four machines: INVITE/non-INVITE × client/server.  Each is a table
``(state, input) -> handler``; an input missing from the table is a protocol
error (ours when it comes from the TU: ``LocalProtocolError``; a peer's
retransmission that no longer matters is absorbed by an explicit entry).
What may come from the peer (a retransmitted request, an ACK, a response) and
every timer of a machine are covered in every state the machine can be in: a
timer that fires in a state where it no longer matters (Timer B after a
provisional, §17.1.1.2: Proceeding waits for a final response however long it
takes) is ignored, and leaving a state drops the deadlines that only mattered
there.  Only the TU's own misuse (a second final response) is refused.
Machines never touch a socket or a clock: every call takes ``now`` and returns
``Output`` values; timers are deadlines the layer reads with ``next_deadline``
and fires with ``handle_timer(now)``.  Timer letters follow RFC 3261 Table 4:
A/B/D (INVITE client), E/F/K (non-INVITE client), G/H/I (INVITE server),
J (non-INVITE server), L/M from RFC 6026.  Over reliable transports the
retransmission timers are not started and the wait timers are zero.  One
deadline is not in Table 4 and has a name, not a letter: ``cancel``, §9.1's
64*T1 after a CANCEL for an INVITE still in Proceeding, when a peer that never
answers the CANCEL is given up (the only end of an INVITE that rang out).

What this module does not own: matching messages to transactions (``layer``),
where bytes go (the transaction's ``target``, resolved by the transport), and
2xx retransmission/ACK for INVITE, which belong to the dialog's TU (§13.3.1.4).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Union

from .errors import LocalProtocolError
from .message import Header, Request, Response


@dataclass(frozen=True, slots=True)
class TimerConfig:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes: transport, address and (for streams) the connection to use."""

    transport: str
    host: str
    port: int
    conn_id: int | None = None

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


class State(enum.Enum):
    TRYING = "trying"
    CALLING = "calling"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Transmit:
    target: Target
    data: bytes


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    transaction: ClientTransaction
    response: Response
    # Nothing more will reach the TU from this transaction (it lingers only to absorb
    # retransmissions): the TU's handler, and what it holds, can be let go.  Only an accepted
    # INVITE passes more up (2xx retransmissions, RFC 6026).
    last: bool = False


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    transaction: Transaction


Output = Union[Transmit, ResponseReceived, TransactionTimedOut, TransactionTerminated]
Handler = Callable[..., list[Output]]
Table = dict[tuple[State, str], str]


def stale_timers(table: Table, timers: Iterable[str]) -> Table:
    """``table`` completed with "ignore" for each of ``timers`` in every state where the
    table does not act on it: a timer that outlived the state it matters in (its deadline
    raced a response, or was left armed) must not be an error."""
    return {**{(state, "timer_" + name): "_ignore_timer" for state in State for name in timers}, **table}


def invite_event(status: int) -> str:
    """An INVITE transaction's input for a response: a 2xx differs from other finals (RFC 6026)."""
    return "provisional" if status < 200 else "success" if status < 300 else "final"


class Transaction:
    """Common parts: state, deadlines by timer letter, the table walk."""

    __slots__ = ("key", "method", "target", "config", "state", "deadlines", "user_data", "scheduled", "__weakref__")
    TABLE: Table = {}
    TIMERS: tuple[str, ...] = ()  # the deadlines this machine arms (RFC 3261 Table 4 letters)

    def __init__(self, key: tuple[Any, ...], request: Request, target: Target, timers: TimerConfig) -> None:
        self.key = key
        self.method = request.method
        self.target = target
        self.config = timers
        self.state = State.TRYING
        self.deadlines: dict[str, float] = {}
        self.user_data: Any = None
        self.scheduled: float | None = None  # the deadline the layer has queued (layer-owned)

    @property
    def reliable(self) -> bool:
        return self.target.reliable

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values()) if self.deadlines else None

    def _dispatch(self, event: str, *args: Any) -> list[Output]:
        name = self.TABLE.get((self.state, event))
        if name is None:
            raise LocalProtocolError(
                f"{type(self).__name__}: input {event!r} is not allowed in state {self.state.value}"
            )
        handler: Handler = getattr(self, name)
        return handler(*args)

    def handle_timer(self, now: float) -> list[Output]:
        out: list[Output] = []
        for letter in sorted(self.deadlines, key=self.deadlines.__getitem__):
            due = self.deadlines.get(letter)
            if due is not None and due <= now and self.state is not State.TERMINATED:
                del self.deadlines[letter]
                out += self._dispatch("timer_" + letter, now)
        return out

    def _terminate(self) -> list[Output]:
        self.state = State.TERMINATED
        self.deadlines.clear()
        return [TransactionTerminated(self)]

    def _absorb(self, *_: Any) -> list[Output]:
        return []

    def _ignore_timer(self, now: float) -> list[Output]:
        return []

    def _timer_terminate(self, now: float) -> list[Output]:
        return self._terminate()

    def _timer_timeout(self, now: float) -> list[Output]:
        """Timers B, F and H: the peer never answered (or never ACKed)."""
        return [TransactionTimedOut(self), *self._terminate()]


# --------------------------------------------------------------------------- server


class ServerTransaction(Transaction):
    """Non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8)."""

    __slots__ = ("last_response",)
    TIMERS: tuple[str, ...] = ("J",)
    TABLE = stale_timers({
        (State.TRYING, "request"): "_absorb",
        (State.TRYING, "provisional"): "_send_provisional",
        (State.TRYING, "final"): "_send_final",
        (State.PROCEEDING, "request"): "_resend_last",
        (State.PROCEEDING, "provisional"): "_send_provisional",
        (State.PROCEEDING, "final"): "_send_final",
        (State.COMPLETED, "request"): "_resend_last",
        (State.COMPLETED, "timer_J"): "_timer_terminate",
        (State.TERMINATED, "request"): "_absorb",
    }, TIMERS)

    def __init__(self, key: tuple[Any, ...], request: Request, target: Target, timers: TimerConfig) -> None:
        # The request itself is not kept: over UDP a transaction lives 32 s after its final
        # response, and all it needs to answer retransmissions is the response's bytes.
        super().__init__(key, request, target, timers)
        self.last_response: bytes | None = None

    def receive_request(self, now: float) -> list[Output]:
        """A retransmission of the request arrived."""
        return self._dispatch("request", now)

    def respond(self, response: Response, now: float) -> list[Output]:
        return self._dispatch("provisional" if response.status < 200 else "final", response, now)

    def _send_provisional(self, response: Response, now: float) -> list[Output]:
        self.state = State.PROCEEDING
        self.last_response = bytes(response)
        return [Transmit(self.target, self.last_response)]

    def _send_final(self, response: Response, now: float) -> list[Output]:
        self.state = State.COMPLETED
        self.last_response = bytes(response)
        out: list[Output] = [Transmit(self.target, self.last_response)]
        if self.reliable:
            return out + self._terminate()
        self.deadlines["J"] = now + 64 * self.config.t1
        return out

    def _resend_last(self, now: float) -> list[Output]:
        return [Transmit(self.target, self.last_response)] if self.last_response else []


class InviteServerTransaction(ServerTransaction):
    """INVITE server transaction (RFC 3261 §17.2.1, Figure 7; RFC 6026 §7.1).

    Besides the ACK, a failure's retransmissions also stop when the transaction is
    ``superseded``: the same caller (Call-ID, From tag) sent a new INVITE with a higher CSeq,
    typically the retry with credentials after a 401/407.  A UAC sends that only once it has
    the final response (§14.1, §22.2), so the ACK was sent even if it never matched (a peer
    that put a new branch in it); going on would make the peer take a late failure's To tag
    for the dialog's.  Like an ACK, this leads to Confirmed, which absorbs what follows."""

    __slots__ = ("_g_interval", "failure_ids")
    TIMERS = ("G", "H", "I", "L")
    TABLE = stale_timers({
        (State.PROCEEDING, "request"): "_resend_last",
        (State.PROCEEDING, "provisional"): "_send_provisional",
        (State.PROCEEDING, "success"): "_send_success",
        (State.PROCEEDING, "final"): "_send_final",
        (State.PROCEEDING, "superseded"): "_absorb",  # still the TU's to answer
        (State.COMPLETED, "request"): "_resend_last",
        (State.COMPLETED, "ack"): "_ack",
        (State.COMPLETED, "superseded"): "_ack",
        (State.COMPLETED, "timer_G"): "_timer_g",
        (State.COMPLETED, "timer_H"): "_timer_timeout",
        (State.CONFIRMED, "request"): "_absorb",
        (State.CONFIRMED, "ack"): "_absorb",
        (State.CONFIRMED, "superseded"): "_absorb",
        (State.CONFIRMED, "timer_I"): "_timer_terminate",
        (State.ACCEPTED, "request"): "_absorb",
        (State.ACCEPTED, "success"): "_resend_success",
        (State.ACCEPTED, "superseded"): "_absorb",
        (State.ACCEPTED, "timer_L"): "_timer_terminate",
        (State.TERMINATED, "request"): "_absorb",
        (State.TERMINATED, "ack"): "_absorb",
        (State.TERMINATED, "superseded"): "_absorb",
    }, TIMERS)

    def __init__(self, key: tuple[Any, ...], request: Request, target: Target, timers: TimerConfig) -> None:
        super().__init__(key, request, target, timers)
        self.state = State.PROCEEDING
        self._g_interval = timers.t1
        # (Call-ID, From tag, To tag, CSeq number) of the failure sent, for the layer to match
        # an ACK whose branch a sloppy peer changed (layer-owned).
        self.failure_ids: tuple[str, str, str, int] | None = None

    def respond(self, response: Response, now: float) -> list[Output]:
        return self._dispatch(invite_event(response.status), response, now)

    def receive_ack(self, now: float) -> list[Output]:
        return self._dispatch("ack", now)

    def supersede(self, now: float) -> list[Output]:
        """The same caller sent a new INVITE with a higher CSeq (see the class docstring)."""
        return self._dispatch("superseded", now)

    def _send_provisional(self, response: Response, now: float) -> list[Output]:
        self.last_response = bytes(response)
        return [Transmit(self.target, self.last_response)]

    def _send_success(self, response: Response, now: float) -> list[Output]:
        self.state = State.ACCEPTED
        self.last_response = bytes(response)
        self.deadlines["L"] = now + 64 * self.config.t1
        return [Transmit(self.target, self.last_response)]

    def _resend_success(self, response: Response, now: float) -> list[Output]:
        return [Transmit(self.target, bytes(response))]

    def _send_final(self, response: Response, now: float) -> list[Output]:
        self.state = State.COMPLETED
        self.last_response = bytes(response)
        if not self.reliable:
            self.deadlines["G"] = now + self._g_interval
        self.deadlines["H"] = now + 64 * self.config.t1
        return [Transmit(self.target, self.last_response)]

    def _timer_g(self, now: float) -> list[Output]:
        self._g_interval = min(2 * self._g_interval, self.config.t2)
        self.deadlines["G"] = now + self._g_interval
        return self._resend_last(now)


    def _ack(self, now: float) -> list[Output]:
        self.state = State.CONFIRMED
        self.deadlines.pop("G", None)
        self.deadlines.pop("H", None)
        if self.reliable:
            return self._terminate()
        self.deadlines["I"] = now + self.config.t4
        return []


# --------------------------------------------------------------------------- client


class ClientTransaction(Transaction):
    """Non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6)."""

    __slots__ = ("request", "_e_interval", "wire")
    TIMERS: tuple[str, ...] = ("E", "F", "K")
    TABLE = stale_timers({
        (State.TRYING, "timer_E"): "_timer_e",
        (State.TRYING, "timer_F"): "_timer_timeout",
        (State.TRYING, "provisional"): "_provisional",
        (State.TRYING, "final"): "_final",
        (State.PROCEEDING, "timer_E"): "_timer_e",
        (State.PROCEEDING, "timer_F"): "_timer_timeout",
        (State.PROCEEDING, "provisional"): "_provisional",
        (State.PROCEEDING, "final"): "_final",
        (State.COMPLETED, "provisional"): "_absorb",
        (State.COMPLETED, "final"): "_absorb",
        (State.COMPLETED, "timer_K"): "_timer_terminate",
        (State.TERMINATED, "provisional"): "_absorb",
        (State.TERMINATED, "final"): "_absorb",
    }, TIMERS)

    def __init__(self, key: tuple[Any, ...], request: Request, target: Target, timers: TimerConfig) -> None:
        super().__init__(key, request, target, timers)
        # Kept only until the final response: a transaction then lingers (Timers K, D, M) with
        # nothing but bytes, so a busy switch does not carry thousands of parsed requests.
        self.request: Request | None = request
        self._e_interval = timers.t1
        self.wire = bytes(request)

    def start(self, now: float) -> list[Output]:
        if not self.reliable:
            self.deadlines["E"] = now + self._e_interval
        self.deadlines["F"] = now + 64 * self.config.t1
        return [Transmit(self.target, self.wire)]

    def receive_response(self, response: Response, now: float) -> list[Output]:
        return self._dispatch("provisional" if response.status < 200 else "final", response, now)

    def _timer_e(self, now: float) -> list[Output]:
        if self.state is State.PROCEEDING:
            self._e_interval = self.config.t2
        else:
            self._e_interval = min(2 * self._e_interval, self.config.t2)
        self.deadlines["E"] = now + self._e_interval
        return [Transmit(self.target, self.wire)]


    def _provisional(self, response: Response, now: float) -> list[Output]:
        self.state = State.PROCEEDING
        return [ResponseReceived(self, response)]

    def _final(self, response: Response, now: float) -> list[Output]:
        self.state = State.COMPLETED
        self.deadlines.clear()
        self.request = None
        out: list[Output] = [ResponseReceived(self, response, last=True)]
        if self.reliable:
            return out + self._terminate()
        self.deadlines["K"] = now + self.config.t4
        return out


class InviteClientTransaction(ClientTransaction):
    """INVITE client transaction (RFC 3261 §17.1.1, Figure 5; RFC 6026 §7.2)."""

    __slots__ = ("_a_interval", "ack")
    TIMERS = ("A", "B", "D", "M", "cancel")
    TABLE = stale_timers({
        (State.CALLING, "timer_A"): "_timer_a",
        (State.CALLING, "timer_B"): "_timer_timeout",
        (State.CALLING, "provisional"): "_provisional",
        (State.CALLING, "success"): "_success",
        (State.CALLING, "final"): "_final",
        (State.CALLING, "cancelled"): "_absorb",  # Timer B still runs
        (State.PROCEEDING, "provisional"): "_provisional",
        (State.PROCEEDING, "success"): "_success",
        (State.PROCEEDING, "final"): "_final",
        (State.PROCEEDING, "cancelled"): "_cancelled",
        (State.PROCEEDING, "timer_cancel"): "_timer_timeout",
        (State.COMPLETED, "cancelled"): "_absorb",
        (State.COMPLETED, "final"): "_resend_ack",
        (State.COMPLETED, "provisional"): "_absorb",
        # A 2xx after our ACK to a failure (a broken peer): the TU has been told the INVITE
        # failed, so it is not passed up; the peer's own timers end its dialog.
        (State.COMPLETED, "success"): "_absorb",
        (State.COMPLETED, "timer_D"): "_timer_terminate",
        (State.ACCEPTED, "success"): "_deliver",
        (State.ACCEPTED, "cancelled"): "_absorb",
        (State.ACCEPTED, "provisional"): "_absorb",
        (State.ACCEPTED, "final"): "_absorb",
        (State.ACCEPTED, "timer_M"): "_timer_terminate",
        (State.TERMINATED, "provisional"): "_absorb",
        (State.TERMINATED, "success"): "_absorb",
        (State.TERMINATED, "final"): "_absorb",
        (State.TERMINATED, "cancelled"): "_absorb",
    }, TIMERS)

    def __init__(self, key: tuple[Any, ...], request: Request, target: Target, timers: TimerConfig) -> None:
        super().__init__(key, request, target, timers)
        self.state = State.CALLING
        self._a_interval = timers.t1
        self.ack: bytes | None = None

    def start(self, now: float) -> list[Output]:
        if not self.reliable:
            self.deadlines["A"] = now + self._a_interval
        self.deadlines["B"] = now + 64 * self.config.t1
        return [Transmit(self.target, self.wire)]

    def receive_response(self, response: Response, now: float) -> list[Output]:
        return self._dispatch(invite_event(response.status), response, now)

    def cancel_sent(self, now: float) -> list[Output]:
        """A CANCEL for this INVITE went out (RFC 3261 §9.1): without a final response in
        64*T1 the transaction is destroyed, and its user told so as for Timer B."""
        return self._dispatch("cancelled", now)

    def _cancelled(self, now: float) -> list[Output]:
        self.deadlines.setdefault("cancel", now + 64 * self.config.t1)
        return []

    def _timer_a(self, now: float) -> list[Output]:
        self._a_interval *= 2
        self.deadlines["A"] = now + self._a_interval
        return [Transmit(self.target, self.wire)]


    def _provisional(self, response: Response, now: float) -> list[Output]:
        # §17.1.1.2: Proceeding neither retransmits (A) nor times out (B); it waits for a final.
        self.state = State.PROCEEDING
        self.deadlines.pop("A", None)
        self.deadlines.pop("B", None)
        return [ResponseReceived(self, response)]

    def _success(self, response: Response, now: float) -> list[Output]:
        self.state = State.ACCEPTED
        self.deadlines.clear()
        self.request = None
        self.deadlines["M"] = now + 64 * self.config.t1
        return [ResponseReceived(self, response)]

    def _deliver(self, response: Response, now: float) -> list[Output]:
        return [ResponseReceived(self, response)]

    def _final(self, response: Response, now: float) -> list[Output]:
        self.state = State.COMPLETED
        self.deadlines.clear()
        assert self.request is not None  # only the first final response gets here
        self.ack = bytes(build_ack_for_failure(self.request, response))
        self.request = None
        out: list[Output] = [Transmit(self.target, self.ack), ResponseReceived(self, response, last=True)]
        if self.reliable:
            return out + self._terminate()
        self.deadlines["D"] = now + 32.0
        return out

    def _resend_ack(self, response: Response, now: float) -> list[Output]:
        return [Transmit(self.target, self.ack)] if self.ack else []


def build_ack_for_failure(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI,
    top Via, From, Call-ID and Route as the INVITE, To from the response."""
    headers: list[Header] = []
    via = next(h for h in invite.headers if h.name.lower() in ("via", "v"))
    headers.append(Header("Via", str(invite.vias[0]) if "," in via.value else via.value))
    headers.append(Header("Max-Forwards", "70"))
    for name in ("From", "Call-ID"):
        value = invite.get(name)
        if value is not None:
            headers.append(Header(name, value))
    headers.append(Header("To", response.get("To") or invite.get("To") or ""))
    headers.append(Header("CSeq", f"{invite.cseq.number} ACK"))
    for route in invite.get_all("Route"):
        headers.append(Header("Route", route))
    headers.append(Header("Content-Length", "0"))
    return Request("ACK", invite.uri, headers)
