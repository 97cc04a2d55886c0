"""The voicemail messages the switch keeps (SPEC "Voicemail, recording, supervision"): their
rows in the store, and how many new and old messages each mailbox holds, known at once (a
message-waiting lamp asks on every change) and told to ``on_change``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .store.base import MailboxStore
from .store.records import MessageRow

log = logging.getLogger(__name__)

Counts = tuple[int, int]  # new, old


class Mailboxes:
    def __init__(self, store: MailboxStore) -> None:
        self.store = store
        self.counts: dict[tuple[str, str], Counts] = {}  # (account, mailbox) -> new, old
        self.on_change: Callable[[str, str, Counts], None] | None = None  # message-waiting lamps

    async def start(self) -> None:
        self.counts.clear()
        for row in await self.store.list_messages():
            self._count(row, +1)

    def of(self, account: str, mailbox: str) -> Counts:
        return self.counts.get((account, mailbox), (0, 0))

    def _count(self, row: MessageRow, step: int) -> None:
        new, old = self.of(row.account, row.mailbox)
        new, old = (new + step, old) if row.heard is None else (new, old + step)
        self.counts[(row.account, row.mailbox)] = (new, old)

    def _changed(self, account: str, mailbox: str) -> None:
        if self.on_change is not None:
            self.on_change(account, mailbox, self.of(account, mailbox))

    async def keep(self, row: MessageRow) -> None:
        """A new message: its row, then the lamps.  A row that cannot be written leaves the
        file where it is, logged."""
        try:
            await self.store.add_message(row)
        except Exception:
            log.exception("voicemail: the message %s for %s@%s (%s) could not be kept", row.id, row.mailbox, row.account,
                          row.path)
            return
        self._count(row, +1)
        self._changed(row.account, row.mailbox)

    async def delete(self, row: MessageRow) -> None:
        """A message heard and let go: its row and its file."""
        if await self.store.delete_message(row.id) is not None:
            self._count(row, -1)
            Path(row.path).unlink(missing_ok=True)
            self._changed(row.account, row.mailbox)
