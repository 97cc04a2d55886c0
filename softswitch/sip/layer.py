"""The transaction layer: matching and timers (RFC 3261 §17.1.3, §17.2.3).

Theory of operation
-------------------
Requests are matched to server transactions by the top Via's branch (when it
carries the RFC 3261 magic cookie and something after it), sent-by and method,
with ACK matching its INVITE; otherwise by the RFC 2543 rules (Request-URI,
From tag, Call-ID, CSeq number, top Via).

Sloppy peers are met half-way on the one exchange where it matters, a failure
to an INVITE (a 401/407 above all): an ACK that carries a new branch still
reaches the transaction whose failure it acknowledges when its Call-ID, From
tag, CSeq number and To tag (the tag of our failure) are that failure's (the
§17.2.3 RFC 2543 rule, without Request-URI and Via); and a new INVITE from the
same Call-ID and From tag with a higher CSeq supersedes the failed one, which
stops retransmitting.  Either way nothing is answered or passed up for it.

Responses are matched to client transactions by branch and CSeq method.  The
layer keeps one heap of deadlines over all transactions; ``get_timer`` gives
the earliest, ``handle_timer(now)`` fires what is due.  The layer decides
nothing about what a request means: new requests, stray responses and ACKs
for 2xx (and any ACK that matches no failure) are returned for the
transaction user, which never answers an ACK.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from .errors import RemoteProtocolError
from .headers import Via
from .message import Request, Response
from .transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    Output,
    ServerTransaction,
    State,
    Target,
    TimerConfig,
    Transaction,
    TransactionTerminated,
    TransactionTimedOut,
)

MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the TU; answer it through ``transaction``."""

    transaction: ServerTransaction
    request: Request


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL matching a pending INVITE server transaction (``invite`` may be None)."""

    transaction: ServerTransaction
    request: Request
    invite: InviteServerTransaction | None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK that belongs to no transaction: the ACK for a 2xx (dialog business)."""

    request: Request
    source: Target


@dataclass(frozen=True, slots=True)
class StrayResponse:
    response: Response


LayerOutput = Union[Output, RequestReceived, CancelReceived, AckReceived, StrayResponse]


def has_cookie(branch: str | None) -> bool:
    return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE)


def cookie_key(via: Via, method: str) -> tuple[Any, ...]:
    """A server transaction's key from a top Via with a magic-cookie branch (RFC 3261 §17.2.3)."""
    return (via.branch, via.sent_by, method)


def server_key(request: Request, method: str | None = None) -> tuple[Any, ...]:
    via = request.vias[0]
    method = method or ("INVITE" if request.method == "ACK" else request.method)
    if has_cookie(via.branch):
        return cookie_key(via, method)
    return (
        "2543", str(request.uri), request.from_.tag, request.call_id, request.cseq.number,
        str(via).lower(), method,
    )


class TransactionLayer:
    def __init__(self, timers: TimerConfig | None = None, branch_factory: Callable[[], str] | None = None) -> None:
        self.timers = timers or TimerConfig()
        self._branch_factory = branch_factory or _counter_branches()
        self.server: dict[tuple[Any, ...], ServerTransaction] = {}
        self.client: dict[tuple[Any, ...], ClientTransaction] = {}
        self._heap: list[tuple[float, int, Transaction]] = []
        self._seq = itertools.count()
        # INVITE server transactions that sent a failure, until they end: by the failure's
        # (Call-ID, From tag, To tag, CSeq number), and the latest by (Call-ID, From tag).
        self._failed: dict[tuple[str, str, str, int], InviteServerTransaction] = {}
        self._failed_by_caller: dict[tuple[str, str], InviteServerTransaction] = {}
        self.retransmissions = 0  # requests taken as retransmissions: the transaction answers again, or not

    def states(self) -> dict[str, int]:
        """Live transactions by kind, method and state (``softswitch counters``): what a count
        that does not come back down after a load is made of."""
        found: Counter[str] = Counter()
        for table, side in ((self.server, "server"), (self.client, "client")):
            for tx in table.values():
                found[f"{side}.{tx.method}.{tx.state.value}"] += 1
        return dict(sorted(found.items()))

    # --- timers -----------------------------------------------------------
    def get_timer(self) -> float | None:
        while self._heap:
            deadline, _, tx = self._heap[0]
            if tx.scheduled == deadline and tx.state is not State.TERMINATED:
                return deadline
            heapq.heappop(self._heap)
        return None

    def handle_timer(self, now: float) -> list[LayerOutput]:
        out: list[LayerOutput] = []
        while (tx := self.due(now)) is not None:
            out += self.fire(tx, now)
        return out

    def due(self, now: float) -> Transaction | None:
        """The next transaction with a deadline at or before ``now`` (taken off the heap), or
        None.  With ``fire``, this lets an edge run each transaction's timers on its own, so
        that one machine failing (a bug) cannot cost the others their timers."""
        while self._heap and self._heap[0][0] <= now:
            deadline, _, tx = heapq.heappop(self._heap)
            if tx.scheduled == deadline and tx.state is not State.TERMINATED:
                tx.scheduled = None
                return tx
        return None

    def fire(self, tx: Transaction, now: float) -> list[LayerOutput]:
        """Run the timers of ``tx`` (from ``due``) that are up at ``now``."""
        return self._track(tx, tx.handle_timer(now))

    def abandon(self, tx: Transaction) -> list[LayerOutput]:
        """End a transaction whose machine raised (a bug, which the edge logs and counts) as
        if it had timed out: its user hears so, and nothing of it lingers in the layer."""
        was_live = tx.state is not State.TERMINATED
        tx.state = State.TERMINATED
        tx.deadlines.clear()
        tx.scheduled = None
        outputs: list[Output] = [TransactionTimedOut(tx)] if was_live else []
        return self._track(tx, [*outputs, TransactionTerminated(tx)])

    def _track(self, tx: Transaction, outputs: list[Output]) -> list[LayerOutput]:
        """Reschedule ``tx`` and forget it once terminated."""
        for item in outputs:
            if isinstance(item, TransactionTerminated):
                if isinstance(tx, ServerTransaction):
                    self.server.pop(tx.key, None)
                    if isinstance(tx, InviteServerTransaction) and tx.failure_ids is not None:
                        self._forget_failure(tx, tx.failure_ids)
                else:
                    self.client.pop(tx.key, None)
        deadline = tx.next_deadline()
        if deadline is not None and deadline != tx.scheduled:
            tx.scheduled = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), tx))
        return list(outputs)

    # --- server side ------------------------------------------------------
    def receive_request(self, request: Request, target: Target, now: float) -> list[LayerOutput]:
        if request.method == "ACK":
            tx = self.server.get(server_key(request))
            if not (isinstance(tx, InviteServerTransaction) and tx.state in (State.COMPLETED, State.CONFIRMED)):
                # §17.2.3 by the dialog's identifiers: a peer that put a new branch in the ACK.
                tx = self._failed.get((request.call_id, request.from_.tag or "", request.to.tag or "", request.cseq.number))
            if tx is not None and tx.state in (State.COMPLETED, State.CONFIRMED):
                return self._track(tx, tx.receive_ack(now))
            return [AckReceived(request, target)]  # an ACK for a 2xx: the dialog's (§13.3.1.4)
        key = server_key(request)
        existing = self.server.get(key)
        if existing is not None:
            self.retransmissions += 1
            return self._track(existing, existing.receive_request(now))
        out: list[LayerOutput] = []
        new: ServerTransaction
        if request.method == "INVITE":
            new = InviteServerTransaction(key, request, target, self.timers)
            old = self._failed_by_caller.get((request.call_id, request.from_.tag or ""))
            if old is not None and old.failure_ids is not None and old.failure_ids[3] < request.cseq.number:
                out += self._track(old, old.supersede(now))
        else:
            new = ServerTransaction(key, request, target, self.timers)
        self.server[key] = new
        if request.method == "CANCEL":
            invite = self.server.get(server_key(request, "INVITE"))
            return [CancelReceived(new, request, invite if isinstance(invite, InviteServerTransaction) else None)]
        return [*out, RequestReceived(new, request)]

    def knows(self, request: Request) -> bool:
        """Whether ``request`` belongs to a server transaction (a retransmission)."""
        return server_key(request) in self.server

    def knows_new(self, via: Via, method: str) -> bool:
        """Whether a ``method`` request whose top Via is ``via`` (with a magic-cookie branch: a
        glance, peek.py, reads no other) belongs to a server transaction."""
        return cookie_key(via, method) in self.server

    def respond(self, tx: ServerTransaction, response: Response, now: float) -> list[LayerOutput]:
        was = tx.state
        outputs = tx.respond(response, now)
        if isinstance(tx, InviteServerTransaction) and was is State.PROCEEDING and tx.state is State.COMPLETED:
            self._remember_failure(tx, response)
        return self._track(tx, outputs)

    def _remember_failure(self, tx: InviteServerTransaction, response: Response) -> None:
        """Index a failure sent, for ACKs with another branch and for superseding INVITEs.
        (The response's identifiers are the INVITE's, which the TU has read already.)"""
        try:
            ids = (response.call_id, response.from_.tag or "", response.to.tag or "", response.cseq.number)
        except RemoteProtocolError:
            return
        tx.failure_ids = ids
        self._failed[ids] = tx
        older = self._failed_by_caller.get(ids[:2])
        if older is None or older.failure_ids is None or older.failure_ids[3] <= ids[3]:
            self._failed_by_caller[(ids[0], ids[1])] = tx

    def _forget_failure(self, tx: InviteServerTransaction, ids: tuple[str, str, str, int]) -> None:
        if self._failed.get(ids) is tx:
            del self._failed[ids]
        if self._failed_by_caller.get((ids[0], ids[1])) is tx:
            del self._failed_by_caller[(ids[0], ids[1])]

    # --- client side ------------------------------------------------------
    def new_branch(self) -> str:
        return MAGIC_COOKIE + self._branch_factory()

    def send_request(self, request: Request, target: Target, now: float, user_data: Any = None) -> tuple[ClientTransaction, list[LayerOutput]]:
        """Start a client transaction; the request's top Via must carry a fresh branch."""
        branch = request.vias[0].branch
        method = request.method
        key = (branch, method)
        tx: ClientTransaction
        if method == "INVITE":
            tx = InviteClientTransaction(key, request, target, self.timers)
        else:
            tx = ClientTransaction(key, request, target, self.timers)
        tx.user_data = user_data
        self.client[key] = tx
        out = self._track(tx, tx.start(now))
        invite = self.client.get((branch, "INVITE")) if method == "CANCEL" else None
        if isinstance(invite, InviteClientTransaction):  # §9.1: a CANCEL shares its INVITE's branch
            out += self._track(invite, invite.cancel_sent(now))
        return tx, out

    def receive_response(self, response: Response, now: float) -> list[LayerOutput]:
        key = (response.vias[0].branch, response.cseq.method)
        tx = self.client.get(key)
        if tx is None:
            return [StrayResponse(response)]
        return self._track(tx, tx.receive_response(response, now))


def _counter_branches() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{next(counter):x}"
