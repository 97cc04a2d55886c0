"""The voicemail messages the switch keeps (SPEC "Voicemail, recording, supervision"): their
rows in the store, and each mailbox's messages known at once (a message-waiting lamp asks for
the counts on every change, a phone listening walks through them), told to ``on_change``.
"""

from __future__ import annotations

import dataclasses
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
        self.rows: dict[tuple[str, str], list[MessageRow]] = {}  # (account, mailbox) -> its messages, oldest first
        self.on_change: Callable[[str, str, Counts], None] | None = None  # message-waiting lamps

    async def start(self) -> None:
        self.rows.clear()
        for row in await self.store.list_messages():
            self.rows.setdefault((row.account, row.mailbox), []).append(row)

    def messages(self, account: str, mailbox: str) -> list[MessageRow]:
        return list(self.rows.get((account, mailbox), ()))

    def of(self, account: str, mailbox: str) -> Counts:
        rows = self.rows.get((account, mailbox), ())
        new = sum(1 for r in rows if r.heard is None)
        return new, len(rows) - new

    def _changed(self, account: str, mailbox: str) -> None:
        if self.on_change is not None:
            self.on_change(account, mailbox, self.of(account, mailbox))

    def _find(self, account: str, mailbox: str, message_id: str) -> MessageRow | None:
        return next((r for r in self.rows.get((account, mailbox), ()) if r.id == message_id), None)

    async def keep(self, row: MessageRow) -> bool:
        """A new message: its row, then the lamps.  A row that cannot be written leaves the
        file where it is, logged (False)."""
        try:
            await self.store.add_message(row)
        except Exception:
            log.exception("voicemail: the message %s for %s@%s (%s) could not be kept", row.id, row.mailbox, row.account,
                          row.path)
            return False
        self.rows.setdefault((row.account, row.mailbox), []).append(row)
        self._changed(row.account, row.mailbox)
        return True

    async def heard(self, account: str, mailbox: str, message_id: str, at: float) -> None:
        """A message was played to its mailbox's phone: old from now on."""
        row = self._find(account, mailbox, message_id)
        if row is None or row.heard is not None:
            return
        rows = self.rows[(account, mailbox)]
        rows[rows.index(row)] = dataclasses.replace(row, heard=at)
        self._changed(account, mailbox)
        await self.store.message_heard(message_id, at)

    async def renumber(self, account: str, old: str, new: str, old_directory: Path, new_directory: Path) -> None:
        """A renumbered extension keeps its mailbox: its messages (rows and files) and its own
        greeting move to the new number's directory."""
        rows = self.rows.pop((account, old), [])
        moved: list[MessageRow] = []
        try:
            if old_directory.is_dir():
                new_directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                for file in list(old_directory.iterdir()):
                    file.rename(new_directory / file.name)
                old_directory.rmdir()
        except OSError as exc:
            log.error("voicemail: the mailbox of %s@%s could not move to %s: %s (its files stay in %s)", old, account, new,
                      exc.strerror or exc, old_directory)
        for row in rows:
            path = Path(row.path)
            if path.parent == old_directory and not path.exists():
                path = new_directory / path.name
            moved.append(dataclasses.replace(row, mailbox=new, path=str(path)))
        if not moved:
            return
        mailbox = self.rows.setdefault((account, new), [])
        mailbox.extend(moved)
        mailbox.sort(key=lambda r: (r.received, r.id))
        self._changed(account, old)
        self._changed(account, new)
        log.info("voicemail: %d messages of %s@%s moved to %s", len(moved), old, account, new)
        for row in moved:
            await self.store.move_message(row.id, row.mailbox, row.path)

    async def remove(self, account: str, mailbox: str, directory: Path) -> None:
        """A stopped extension's mailbox goes with it, so that its number's next holder does
        not hear its messages: rows, files and its own greeting."""
        rows = self.rows.pop((account, mailbox), [])
        if rows:
            self._changed(account, mailbox)
        for row in rows:
            await self.store.delete_message(row.id)
        files = [Path(r.path) for r in rows]
        try:
            files += list(directory.iterdir()) if directory.is_dir() else []
            for file in files:
                file.unlink(missing_ok=True)
            if directory.is_dir():
                directory.rmdir()
        except OSError as exc:
            log.error("voicemail: the mailbox of stopped %s@%s could not be removed: %s", mailbox, account, exc.strerror or exc)
        if rows or files:
            log.info("voicemail: the mailbox of stopped %s@%s removed (%d messages)", mailbox, account, len(rows))

    async def delete(self, account: str, mailbox: str, message_id: str) -> None:
        """A message let go: its row and its file."""
        row = self._find(account, mailbox, message_id)
        if row is None:
            return
        self.rows[(account, mailbox)].remove(row)
        self._changed(account, mailbox)
        await self.store.delete_message(message_id)
        try:
            Path(row.path).unlink(missing_ok=True)
        except OSError as exc:
            log.error("voicemail: %s could not be deleted: %s", row.path, exc.strerror or exc)
