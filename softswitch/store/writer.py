"""Write-behind: items queued by the services are written to the store in batches.

A request is never kept waiting on the database: the registrar answers a REGISTER
and the B2BUA ends a call from memory, and what must be kept follows within
``interval`` seconds, many items per transaction.  A failed write is retried with
the next batch; ``close`` flushes what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchWriter(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], Awaitable[None]], interval: float, what: str) -> None:
        self.write = write
        self.interval = interval
        self.what = what
        self._pending: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    @property
    def pending(self) -> int:
        """Items waiting to be written."""
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def enqueue(self, items: Sequence[T]) -> None:
        if items:
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
        try:
            await self.write(batch)
            self.written += len(batch)
        except Exception:
            log.exception("store write of %d %s failed; will retry", len(batch), self.what)
            self._pending = batch + self._pending
            self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
