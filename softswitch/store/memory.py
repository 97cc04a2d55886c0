"""In-memory repositories, for unit tests and ``memory://``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .base import STALE_AFTER
from .records import AuditRow, CallRow, MessageRow, ParkedRow, RegistrationChange, RegistrationRow, RegistrationSaved


def sort_key(b: RegistrationRow) -> tuple[str, int, str, float]:
    return (b.account, len(b.extension), b.extension, -b.registered_at)


class MemoryStore:
    def __init__(self) -> None:
        self._rows: dict[str, RegistrationRow] = {}
        self._calls: dict[str, CallRow] = {}
        self._audit: list[AuditRow] = []
        self._parked: dict[tuple[str, int], tuple[ParkedRow, str]] = {}
        self._messages: dict[str, MessageRow] = {}

    async def load_bindings(self, now: float) -> list[RegistrationRow]:
        return await self.list_bindings(now)

    async def list_bindings(self, now: float, account: str | None = None) -> list[RegistrationRow]:
        rows = [b for b in self._rows.values() if b.expires_at > now and (account is None or b.account == account)]
        return sorted(rows, key=sort_key)

    async def apply(self, changes: Sequence[RegistrationChange]) -> None:
        for change in changes:
            row = change.registration
            if isinstance(change, RegistrationSaved):
                self._rows[row.id] = row
            elif (held := self._rows.get(row.id)) is not None and held.registered_at <= row.registered_at:
                del self._rows[row.id]  # the row it saw, not a newer one

    async def purge_expired(self, now: float) -> int:
        dead = [k for k, b in self._rows.items() if b.expires_at <= now]
        for k in dead:
            del self._rows[k]
        return len(dead)

    async def add_calls(self, records: Sequence[CallRow]) -> None:
        for record in records:
            self._calls[record.id] = record  # rows are immutable: nothing to copy

    async def list_calls(
        self, account: str | None = None, since: float | None = None, until: float | None = None, limit: int | None = None,
        person: str | None = None, recorded: bool = False,
    ) -> list[CallRow]:
        rows = sorted(
            (r for r in self._calls.values() if (account is None or r.account == account)
             and (since is None or r.started >= since) and (until is None or r.started < until)
             and (person is None or person in (r.caller_person, r.callee_person))
             and (not recorded or r.recording is not None)),
            key=lambda r: (r.started, r.id),
        )
        return rows[-limit:] if limit else rows

    async def get_call(self, call_id: str) -> CallRow | None:
        return self._calls.get(call_id)

    async def expired_recordings(self, account: str, before: float, limit: int) -> list[CallRow]:
        rows = [r for r in await self.list_calls(account, None, before, recorded=True)
                if r.recording is not None and r.recording.deleted is None]
        return rows[:limit]

    async def recordings_deleted(self, call_ids: Sequence[str], at: float) -> None:
        for call_id in call_ids:
            row = self._calls.get(call_id)
            if row is not None and row.recording is not None:
                self._calls[call_id] = dataclasses.replace(row, recording=dataclasses.replace(row.recording, deleted=at))

    async def add_audit(self, rows: Sequence[AuditRow]) -> None:
        self._audit.extend(rows)

    async def list_audit(self, account: str | None = None, since: float | None = None, limit: int | None = None) -> list[AuditRow]:
        rows = [r for r in self._audit if (account is None or r.account == account) and (since is None or r.at >= since)]
        return rows[-limit:] if limit else rows

    async def claim_slot(self, entry: ParkedRow, node: str, now: float) -> float | None:
        held = self._parked.get((entry.account, entry.slot))
        if held is not None and held[0].call != entry.call and held[0].expires_at + STALE_AFTER > now:
            return held[0].expires_at + STALE_AFTER
        self._parked[(entry.account, entry.slot)] = (entry, node)
        return None

    async def release_slot(self, account: str, slot: int, call: str) -> None:
        held = self._parked.get((account, slot))
        if held is not None and held[0].call == call:
            del self._parked[(account, slot)]

    async def list_parked(self, account: str | None = None) -> list[tuple[ParkedRow, str]]:
        return [v for k, v in sorted(self._parked.items()) if account in (None, k[0])]

    async def clear_node(self, node: str) -> int:
        mine = [k for k, (_, n) in self._parked.items() if n == node]
        for key in mine:
            del self._parked[key]
        return len(mine)

    async def add_message(self, row: MessageRow) -> None:
        self._messages[row.id] = row

    async def list_messages(self, account: str | None = None, mailbox: str | None = None) -> list[MessageRow]:
        rows = (m for m in self._messages.values() if account in (None, m.account) and mailbox in (None, m.mailbox))
        return sorted(rows, key=lambda m: (m.received, m.id))

    async def message_heard(self, message_id: str, at: float) -> None:
        row = self._messages.get(message_id)
        if row is not None and row.heard is None:
            self._messages[message_id] = dataclasses.replace(row, heard=at)

    async def delete_message(self, message_id: str) -> MessageRow | None:
        return self._messages.pop(message_id, None)

    async def move_message(self, message_id: str, mailbox: str, path: str) -> None:
        row = self._messages.get(message_id)
        if row is not None:
            self._messages[message_id] = dataclasses.replace(row, mailbox=mailbox, path=path)

    async def close(self) -> None:
        return None
