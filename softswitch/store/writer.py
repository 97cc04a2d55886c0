"""Write-behind: items queued by the services are written to the store in batches.

A request is never kept waiting on the database: the registrar answers a REGISTER
and the B2BUA ends a call from memory, and what must be kept follows within
``interval`` seconds, many items per transaction.  A write the store fails for its own
sake (unreachable, disk full) is kept and tried again, less and less often, told once and
then once a minute; an item the store refuses for what it holds is dropped (logged);
``close`` flushes what is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

log = logging.getLogger(__name__)

T = TypeVar("T")

FAILURE_TOLD_EVERY = 60.0  # seconds between log lines while the store keeps failing
MAX_RETRY = 30.0  # seconds between tries at most while it does


def refused(exc: Exception) -> bool:
    """Whether the store refused a write for what it holds (a value too long, a character the
    database does not take, a broken constraint, a value of the wrong kind), not for its own
    sake (unreachable, disk full).  PostgreSQL says which by its SQLSTATE class (22: data
    exception, 23: integrity constraint violation), which SQLAlchemy's asyncpg adapter wraps in
    a plain ``DBAPIError``; asyncpg's own check of an argument is a ``DataError`` of its own."""
    if isinstance(exc, (DataError, IntegrityError)):
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(state, str) and state[:2] in ("22", "23"):
            return True
        cause = getattr(exc.orig, "__cause__", None)
        return type(cause).__name__ == "DataError" and type(cause).__module__.startswith("asyncpg")
    if isinstance(exc, StatementError):  # (a value that could not be bound)
        return True
    return isinstance(exc, (ValueError, TypeError))


class BatchWriter(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], Awaitable[None]], interval: float, what: str,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.write = write
        self.interval = interval
        self.what = what
        self.clock = clock
        # When (``clock``) the oldest item not yet in the store was queued, None when all are: what
        # was queued before it is in the store (or refused), what came after may not be.
        self.unwritten_since: float | None = None
        self._pending: list[T] = []
        self._failing_since: float | None = None  # when writes began to fail for the store's sake
        self._told_at = 0.0
        self._retry_in = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0  # items the store refused on their own (see ``_one_by_one``)

    @property
    def pending(self) -> int:
        """Items waiting to be written."""
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def enqueue(self, items: Sequence[T]) -> None:
        if items:
            if self.unwritten_since is None:
                self.unwritten_since = self.clock()
            self._pending.extend(items)
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.interval if self._failing_since is None else self._retry_in)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        started = self.clock()  # what is queued while the batch is written came after this
        try:
            await self.write(batch)
            self.written += len(batch)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled mid-write (the switch stopping): kept for close's flush
                self._pending = batch + self._pending
                raise
            kept = await self._one_by_one(batch) if refused(exc) else batch
            self._pending = kept + self._pending
            if kept:  # the store is unreachable (or full): the oldest is still unwritten
                self._failed(exc)
                self._wake.set()
                return
        if self._failing_since is not None:
            log.warning("store writes of %s work again after %.0f s", self.what, self.clock() - self._failing_since)
            self._failing_since, self._retry_in = None, self.interval
        self.unwritten_since = started if self._pending else None

    def _failed(self, exc: Exception) -> None:
        """A write that failed for the store's sake: told at once (with its traceback), then
        once a minute while it lasts; tried again less and less often, up to every
        ``MAX_RETRY`` seconds (a full disk or a database gone is not hammered)."""
        now = self.clock()
        if self._failing_since is None:
            self._failing_since = self._told_at = now
            log.error("store write of %d %s failed; kept, tried again: %r", len(self._pending), self.what, exc,
                      exc_info=exc)
        elif now - self._told_at >= FAILURE_TOLD_EVERY:
            self._told_at = now
            log.error("store writes of %s failing for %.0f s (%d waiting): %r", self.what, now - self._failing_since,
                      len(self._pending), exc)
        self._retry_in = min(MAX_RETRY, max(self.interval, self._retry_in * 2))

    async def _one_by_one(self, batch: list[T]) -> list[T]:
        """After a batch the store refused for what it holds: each item alone.  Those it
        refuses alone are dropped, each logged, so that one bad item does not keep every later
        one out for ever; an item that fails for the store's sake (unreachable, full) is kept,
        and so are the rest after it."""
        for i, item in enumerate(batch):
            try:
                await self.write([item])
                self.written += 1
            except Exception as exc:
                if not refused(exc):
                    return batch[i:]
                self.dropped += 1
                log.error("store refused one of the %s, dropped: %r (%s)", self.what, item, exc)
        return []

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
        if self._pending:
            log.error("%d %s not written: the store failed until the switch stopped (see the errors above)",
                      len(self._pending), self.what)
