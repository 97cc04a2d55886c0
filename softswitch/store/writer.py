"""Write-behind: items queued by the services are written to the store in batches.

A request is never kept waiting on the database: the registrar answers a REGISTER
and the B2BUA ends a call from memory, and what must be kept follows within
``interval`` seconds, many items per transaction.  A failed write is retried with
the next batch; ``close`` flushes what is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


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
            await asyncio.sleep(self.interval)
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
        except Exception:
            log.exception("store write of %d %s failed; will retry", len(batch), self.what)
            kept = await self._one_by_one(batch)
            self._pending = kept + self._pending
            if kept:  # the store is unreachable: the oldest is still unwritten
                self._wake.set()
                return
        self.unwritten_since = started if self._pending else None

    async def _one_by_one(self, batch: list[T]) -> list[T]:
        """After a failed batch: each item alone.  When some go in and others do not, those
        are refused for what they hold (a value the database does not take) and dropped, each
        logged, so that one bad item does not keep every later one out for ever.  When none
        goes in the store is unreachable: all of them are kept for the next try."""
        if len(batch) == 1:
            return batch
        failed: list[tuple[T, Exception]] = []
        for item in batch:
            try:
                await self.write([item])
                self.written += 1
            except Exception as exc:
                failed.append((item, exc))
        if len(failed) == len(batch):
            return batch
        for item, error in failed:
            self.dropped += 1
            log.error("store refused one of the %s, dropped: %r (%s)", self.what, item, error)
        return []

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
