"""SQLAlchemy 2 (async) repositories: SQLite via aiosqlite by default, PostgreSQL via asyncpg."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..sip.transaction import Target
from .base import STALE_AFTER
from .memory import sort_key
from .records import AuditRow, CallRow, MessageRow, ParkedRow, RegistrationChange, RegistrationRow, RegistrationSaved
from .tables import audit, calls, messages, parked, registrations

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x50F75717C4  # a PostgreSQL advisory lock key of our own


def kept(text: str, size: int | None = None) -> str:
    """Text a phone or an operator typed, as a text column takes it: cut to the column's size,
    and a NUL (which a quoted string may carry, RFC 3261 §25.1, and PostgreSQL's text refuses)
    made U+FFFD, so that the row is kept whatever it holds."""
    text = text if size is None else text[:size]
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def registration_values(b: RegistrationRow) -> dict[str, Any]:
    return {
        "id": b.id, "account": b.account, "extension": b.extension, "binding_key": b.key,
        "contact": b.contact, "uri": b.uri, "expires_at": b.expires_at, "registered_at": b.registered_at,
        "call_id": b.call_id, "cseq": b.cseq, "transport": b.source.transport,
        "source_host": b.source.host, "source_port": b.source.port, "nat": b.nat,
        "instance": b.instance, "reg_id": b.reg_id, "q": b.q,
        "user_agent": kept(b.user_agent, 256),
        "path": "\n".join(b.path) or None,
    }


def registration_from(row: Any) -> RegistrationRow:
    """A row as the table (or a mapping of its columns) holds it."""
    if isinstance(row, dict):
        row = SimpleNamespace(**row)
    # Connections do not survive the process: a restored stream binding has no connection id.
    return RegistrationRow(
        row.account, row.extension, row.binding_key, row.contact, row.uri, row.expires_at,
        row.registered_at, row.call_id, row.cseq, Target(row.transport, row.source_host, row.source_port),
        bool(row.nat), row.instance, row.reg_id, row.q, row.user_agent, tuple(row.path.split("\n")) if row.path else (),
    )


def _call_row(record: CallRow) -> dict[str, Any]:
    """A call's row as its columns take it (``kept``): whatever was dialled, the call is kept."""
    row = record.as_row()
    sizes = {"caller": 64, "callee": 64, "hotline": 32, "cause": 256, "caller_device": 256, "callee_device": 256,
             "path": 512, "recording_path": 512}
    for key, value in row.items():
        if isinstance(value, str) or key in sizes and value is not None:
            row[key] = kept(str(value), sizes.get(key))
    return row


def upgrade(connection: Connection) -> None:
    """Run Alembic migrations to head on ``connection``."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


class SqlStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        stmt = insert(registrations)
        # INSERT ... ON CONFLICT (id) DO UPDATE: one statement, run as executemany.
        self._upsert = stmt.on_conflict_do_update(
            index_elements=[registrations.c.id],
            set_={c.name: stmt.excluded[c.name] for c in registrations.columns if c.name != "id"},
        )

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            if not self.url.startswith("sqlite"):
                # Several processes sharing the store may start together: one migrates at a time
                # (the lock ends with the transaction), the others then find it done.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            await conn.run_sync(upgrade)

    async def load_bindings(self, now: float) -> list[RegistrationRow]:
        return await self.list_bindings(now)

    async def list_bindings(self, now: float, account: str | None = None) -> list[RegistrationRow]:
        query = select(registrations).where(registrations.c.expires_at > now)
        if account is not None:
            query = query.where(registrations.c.account == account)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return sorted((registration_from(r) for r in rows), key=sort_key)

    async def apply(self, changes: Sequence[RegistrationChange]) -> None:
        if not changes:
            return
        latest: dict[str, RegistrationChange] = {}
        for change in changes:
            latest[change.registration.id] = change
        saved = [registration_values(c.registration) for c in latest.values() if isinstance(c, RegistrationSaved)]
        # A removal deletes the row it saw, not one written since (by another node of a cluster).
        removed = [{"rid": key, "seen": c.registration.registered_at} for key, c in latest.items()
                   if not isinstance(c, RegistrationSaved)]
        async with self.engine.begin() as conn:
            if saved:
                await conn.execute(self._upsert, saved)
            if removed:
                await conn.execute(delete(registrations).where(
                    registrations.c.id == bindparam("rid"), registrations.c.registered_at <= bindparam("seen")), removed)

    async def purge_expired(self, now: float) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(registrations).where(registrations.c.expires_at <= now))
        return int(result.rowcount or 0)

    async def add_calls(self, records: Sequence[CallRow]) -> None:
        if records:
            async with self.engine.begin() as conn:
                await conn.execute(calls.insert(), [_call_row(r) for r in records])

    async def list_calls(
        self, account: str | None = None, since: float | None = None, until: float | None = None, limit: int | None = None,
        person: str | None = None, recorded: bool = False,
    ) -> list[CallRow]:
        query = select(calls)
        if account is not None:
            query = query.where(calls.c.account == account)
        if person is not None:
            query = query.where((calls.c.caller_person == person) | (calls.c.callee_person == person))
        if recorded:
            query = query.where(calls.c.recording_path.is_not(None))
        if since is not None:
            query = query.where(calls.c.started >= since)
        if until is not None:
            query = query.where(calls.c.started < until)
        query = query.order_by(calls.c.started.desc(), calls.c.id.desc())
        if limit:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [CallRow.from_row(dict(r)) for r in reversed(rows)]

    async def expired_recordings(self, account: str, before: float, limit: int) -> list[CallRow]:
        query = (select(calls).where(calls.c.account == account, calls.c.started < before,
                                     calls.c.recording_path.is_not(None), calls.c.recording_deleted.is_(None))
                 .order_by(calls.c.started, calls.c.id).limit(limit))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [CallRow.from_row(dict(r)) for r in rows]

    async def recordings_deleted(self, call_ids: Sequence[str], at: float) -> None:
        if call_ids:
            async with self.engine.begin() as conn:
                await conn.execute(update(calls).where(calls.c.id.in_(list(call_ids))).values(recording_deleted=at))

    async def get_call(self, call_id: str) -> CallRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(calls).where(calls.c.id == call_id))).mappings().first()
        return CallRow.from_row(dict(row)) if row is not None else None

    async def add_audit(self, rows: Sequence[AuditRow]) -> None:
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(audit.insert(), [{
                    "at": r.at, "actor": kept(r.actor, 128), "account": r.account[:64], "action": r.action[:32],
                    "subject": kept(r.subject, 128), "person": r.person,
                    "before": None if r.before is None else kept(r.before), "after": None if r.after is None else kept(r.after),
                    "version": r.version} for r in rows])

    async def list_audit(self, account: str | None = None, since: float | None = None, limit: int | None = None) -> list[AuditRow]:
        query = select(audit)
        if account is not None:
            query = query.where(audit.c.account == account)
        if since is not None:
            query = query.where(audit.c.at >= since)
        query = query.order_by(audit.c.id.desc())
        if limit:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditRow(r.at, r.actor, r.account, r.action, r.subject, r.person, r.before, r.after, r.version)
                for r in reversed(rows)]

    async def claim_slot(self, entry: ParkedRow, node: str, now: float) -> float | None:
        key = (parked.c.account == entry.account) & (parked.c.slot == entry.slot)
        row = {"account": entry.account, "slot": entry.slot, "call": entry.call, "parked_at": entry.parked_at,
               "expires_at": entry.expires_at, "parker": kept(entry.parker, 64), "party": kept(entry.party, 256), "node": node[:128]}
        try:
            async with self.engine.begin() as conn:
                held = (await conn.execute(select(parked.c.call, parked.c.expires_at).where(key))).first()
                if held is not None and held.call != entry.call and held.expires_at + STALE_AFTER > now:
                    return float(held.expires_at + STALE_AFTER)
                await conn.execute(delete(parked).where(key))
                await conn.execute(parked.insert(), row)
        except IntegrityError:  # another process took it between our look and our write
            return now + STALE_AFTER
        return None

    async def release_slot(self, account: str, slot: int, call: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(parked).where(
                (parked.c.account == account) & (parked.c.slot == slot) & (parked.c.call == call)))

    async def list_parked(self, account: str | None = None) -> list[tuple[ParkedRow, str]]:
        query = select(parked).order_by(parked.c.account, parked.c.slot)
        if account is not None:
            query = query.where(parked.c.account == account)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(ParkedRow(r.account, r.slot, r.call, r.parked_at, r.expires_at, r.parker, r.party), r.node) for r in rows]

    async def clear_node(self, node: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(parked).where(parked.c.node == node))
        return int(result.rowcount or 0)

    async def add_message(self, row: MessageRow) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(messages.insert(), [{**row.as_row(), "caller": kept(row.caller, 128)}])

    async def list_messages(self, account: str | None = None, mailbox: str | None = None) -> list[MessageRow]:
        query = select(messages)
        if account is not None:
            query = query.where(messages.c.account == account)
        if mailbox is not None:
            query = query.where(messages.c.mailbox == mailbox)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(messages.c.received, messages.c.id))).mappings().all()
        return [MessageRow.from_row(dict(r)) for r in rows]

    async def message_heard(self, message_id: str, at: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(messages).where(messages.c.id == message_id, messages.c.heard.is_(None)).values(heard=at))

    async def delete_message(self, message_id: str) -> MessageRow | None:
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(messages).where(messages.c.id == message_id))).mappings().first()
            if row is None:
                return None
            await conn.execute(delete(messages).where(messages.c.id == message_id))
        return MessageRow.from_row(dict(row))

    async def move_message(self, message_id: str, mailbox: str, path: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(messages).where(messages.c.id == message_id).values(mailbox=mailbox, path=path))

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
