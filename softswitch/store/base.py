"""The repository protocol the services use (DESIGN.md: Store and config).

It speaks only the store's own rows (records.py); each service converts at its edge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .records import AuditRow, CallRow, MessageRow, ParkedRow, RegistrationChange, RegistrationRow


class BindingStore(Protocol):
    async def load_bindings(self, now: float) -> list[RegistrationRow]:
        """Every binding that has not expired at ``now``."""

    async def list_bindings(self, now: float, account: str | None = None) -> list[RegistrationRow]:
        """Live bindings, optionally of one account, by account/extension."""

    async def apply(self, changes: Sequence[RegistrationChange]) -> None:
        """Persist saved and removed bindings, all in one transaction.  A removal deletes the row
        only if it is not newer than the binding removed (another process may have refreshed it)."""

    async def purge_expired(self, now: float) -> int:
        """Delete expired rows; returns how many."""

    async def close(self) -> None: ...


class CallStore(Protocol):
    async def add_calls(self, records: Sequence[CallRow]) -> None:
        """Append finished calls to the history, in one transaction."""

    async def list_calls(
        self, account: str | None = None, since: float | None = None, until: float | None = None, limit: int | None = None,
        person: str | None = None, recorded: bool = False,
    ) -> list[CallRow]:
        """Calls by start time, oldest first: optionally one account's, in [since, until), with
        ``person`` as caller or callee, only ``recorded`` ones; ``limit`` keeps the newest that many."""


    async def get_call(self, call_id: str) -> CallRow | None:
        """One call's row by its id."""

    async def expired_recordings(self, account: str, before: float, limit: int) -> list[CallRow]:
        """Recorded calls of ``account`` started before ``before`` whose file retention has not
        deleted yet, oldest first, at most ``limit``."""

    async def recordings_deleted(self, call_ids: Sequence[str], at: float) -> None:
        """Mark these calls' recordings as deleted at ``at`` (the rows stay)."""


class AuditLog(Protocol):
    async def add_audit(self, rows: Sequence[AuditRow]) -> None:
        """Append changes, in one transaction."""

    async def list_audit(self, account: str | None = None, since: float | None = None, limit: int | None = None) -> list[AuditRow]:
        """Changes oldest first: optionally one account's, since a time; ``limit`` keeps the newest."""


class MailboxStore(Protocol):
    async def add_message(self, row: MessageRow) -> None:
        """Keep a new message."""

    async def list_messages(self, account: str | None = None, mailbox: str | None = None) -> list[MessageRow]:
        """Messages oldest first: optionally one account's, one mailbox's."""

    async def message_heard(self, message_id: str, at: float) -> None:
        """The message was played (the first time counts): it is old from now on."""

    async def delete_message(self, message_id: str) -> MessageRow | None:
        """Forget a message; the row it had (its file is the caller's to delete), or None."""

    async def move_message(self, message_id: str, mailbox: str, path: str) -> None:
        """A message now belongs to ``mailbox`` (its extension was renumbered), its file at ``path``."""


# A row whose call should have left its slot this long ago belongs to a switch process that died.
STALE_AFTER = 600.0


class ParkStore(Protocol):
    async def claim_slot(self, entry: ParkedRow, node: str, now: float) -> float | None:
        """Record that ``node`` parks ``entry`` in its slot.  None: done; otherwise another
        live process holds the slot, until the returned time."""

    async def release_slot(self, account: str, slot: int, call: str) -> None:
        """The call left the slot (only the row of that call is removed)."""

    async def list_parked(self, account: str | None = None) -> list[tuple[ParkedRow, str]]:
        """Occupied slots and the process holding each, by account and slot."""

    async def clear_node(self, node: str) -> int:
        """Forget the slots a previous run of ``node`` held (its calls died with it)."""


class Store(BindingStore, CallStore, ParkStore, AuditLog, MailboxStore, Protocol):
    """Everything the switch keeps."""


async def open_store(url: str) -> Store:
    if url == "memory://":
        from .memory import MemoryStore

        return MemoryStore()
    from .sql import SqlStore

    store = SqlStore(url)
    await store.migrate()
    return store
