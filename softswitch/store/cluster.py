"""What the nodes of a cluster share beyond the store's own rows (PostgreSQL only).

Theory of operation
-------------------
Every node keeps what it routes with in memory (bindings, routing's memory), as a single
process does, and tells the others each change it makes: ``publish`` sends it with
PostgreSQL's ``NOTIFY`` on one channel, and every node ``LISTEN``s there, so a phone that
registered through node A can be rung from node B a moment later.  Nothing is read back
per call.  Notifications are not stored: a node that was not listening (starting, or its
connection lost) re-reads the registrations (``ClusterStore`` via the store's own
``list_bindings``) and routing's memory (``hunt_memory``) from the tables, which stay the
truth.  Each node beats in ``nodes``; one whose beat is too old is dead.  The digest nonce
secret lives in ``cluster_values``, created by the first node to start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from .records import RegistrationChange, RegistrationRow, RegistrationSaved
from .sql import SqlStore, registration_from, registration_values
from .tables import bans as bans_table
from .tables import cluster_values, hunt_memory, nodes

log = logging.getLogger(__name__)

CHANNEL = "softswitch_cluster"
MAX_PAYLOAD = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
RECONNECT_S = 2.0  # seconds between attempts to listen again
BATCH_S = 0.05  # changes gathered this long go in one round trip (the others learn them this much later)
SEND_S = 5.0  # a send to the other nodes taking longer: the connection is taken for lost (half-open)
MAX_OUTBOX = 10_000  # messages waiting for the connection; beyond, the oldest go (the others re-read the tables)


class ClusterStore:
    def __init__(self, store: SqlStore, node: str) -> None:
        if not store.url.startswith("postgresql"):
            raise ValueError("a cluster needs a PostgreSQL store")
        self.store = store
        self.node = node
        self.on_message: Callable[[dict[str, Any]], None] = lambda message: None
        self._listener: Any = None  # an asyncpg connection, LISTENing
        self._outbox: list[str] = []
        self._flush: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closing = False
        self.on_reconnect: Callable[[], None] = lambda: None
        self.counters = {"published": 0, "received": 0, "dropped": 0}

    # --- shared values -----------------------------------------------------------
    async def nonce_secret(self) -> bytes:
        """The digest nonce secret of the cluster: made by the first node, read by the others."""
        async with self.store.engine.begin() as conn:
            await conn.execute(insert(cluster_values).values(name="nonce_secret", value=secrets.token_hex(32))
                               .on_conflict_do_nothing(index_elements=["name"]))
            value = (await conn.execute(select(cluster_values.c.value).where(cluster_values.c.name == "nonce_secret"))).scalar_one()
        return bytes.fromhex(value)

    # --- nodes -------------------------------------------------------------------
    async def beat(self, address: str, now: float, *, starting: bool = False, draining: bool = False) -> None:
        values = {"address": address, "seen_at": now, "draining": draining}
        async with self.store.engine.begin() as conn:
            stmt = insert(nodes).values(name=self.node, started_at=now, **values)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["name"], set_={**values, **({"started_at": now} if starting else {})}))

    async def leave(self) -> None:
        """This node stops: its beat ends now (the others need not wait to call it dead)."""
        async with self.store.engine.begin() as conn:
            await conn.execute(update(nodes).where(nodes.c.name == self.node).values(seen_at=0.0))

    async def nodes(self) -> list[dict[str, Any]]:
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(select(nodes).order_by(nodes.c.name))).all()
        return [dict(r._mapping) for r in rows]

    # --- routing's memory ----------------------------------------------------------
    async def load_hunt_memory(self) -> list[tuple[str, str, str, str]]:
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(select(hunt_memory))).all()
        return [(r.account, r.kind, r.name, r.value) for r in rows]

    async def save_hunt_memory(self, items: list[tuple[str, str, str, str]]) -> None:
        if not items:
            return
        stmt = insert(hunt_memory)
        async with self.store.engine.begin() as conn:
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["account", "kind", "name"], set_={"value": stmt.excluded.value}),
                [{"account": a, "kind": k, "name": n, "value": v} for a, k, n, v in items])

    # --- bans -----------------------------------------------------------------------
    async def save_bans(self, bans: list[tuple[str, float, str]], lifted: list[str]) -> None:
        """Bans (source, until on the wall clock, why) and lifted sources, in one transaction."""
        async with self.store.engine.begin() as conn:
            if bans:
                stmt = insert(bans_table)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["source"], set_={"until": stmt.excluded.until, "why": stmt.excluded.why}),
                    [{"source": s, "until": u, "why": w[:256]} for s, u, w in bans])
            if lifted:
                await conn.execute(delete(bans_table).where(bans_table.c.source.in_(lifted)))

    async def load_bans(self, now: float) -> list[tuple[str, float, str]]:
        async with self.store.engine.begin() as conn:
            await conn.execute(delete(bans_table).where(bans_table.c.until <= now))
            rows = (await conn.execute(select(bans_table))).all()
        return [(r.source, r.until, r.why) for r in rows]

    # --- the bus -------------------------------------------------------------------
    async def listen(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        dsn = self.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        listener = await asyncpg.connect(dsn)  # the URL's own options (ssl=...) included
        await listener.add_listener(CHANNEL, self._on_notify)
        listener.add_termination_listener(self._on_lost)
        self._listener = listener

    def _on_lost(self, _conn: Any) -> None:
        """The listening connection ended (PostgreSQL restarted, the network failed): connect
        again every ``RECONNECT_S``; once back, ``on_reconnect`` (the node re-reads what it missed)."""
        if self._closing or (self._reconnect is not None and not self._reconnect.done()):
            return  # (already connecting again)
        self._listener = None
        log.warning("cluster: the connection to the other nodes (PostgreSQL LISTEN) was lost; connecting again")
        self._reconnect = asyncio.get_running_loop().create_task(self._connect_again())

    async def _connect_again(self) -> None:
        while not self._closing:
            await asyncio.sleep(RECONNECT_S)
            try:
                await self.listen()
            except Exception as exc:
                log.debug("cluster: still no connection: %s", exc)
                continue
            log.warning("cluster: connected to the other nodes again")
            self.on_reconnect()
            self._send_soon()  # what was published meanwhile
            return

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            batch = json.loads(payload)
        except ValueError:
            self.counters["dropped"] += 1
            return
        if not isinstance(batch, dict) or batch.get("node") == self.node or not isinstance(batch.get("messages"), list):
            return
        node = batch["node"]
        for message in batch["messages"]:
            self.counters["received"] += 1
            try:
                self.on_message({**message, "node": node})
            except Exception:
                log.exception("cluster: a message from node %s could not be applied", node)

    def publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` to the other nodes: gathered for ``BATCH_S`` and sent in as few
        notifications as fit, on the listening connection."""
        text = json.dumps(message, separators=(",", ":"))
        if len(text.encode()) > MAX_PAYLOAD - 100:
            self.counters["dropped"] += 1
            log.warning("cluster: a %s message of %d bytes is too long to send; the others re-read it later",
                        message.get("kind"), len(text))
            return
        self._outbox.append(text)
        if len(self._outbox) > MAX_OUTBOX:  # the connection is down: what it cannot carry, the resync does
            dropped = len(self._outbox) - MAX_OUTBOX
            del self._outbox[:dropped]
            self.counters["dropped"] += dropped
        self._send_soon()

    def _send_soon(self) -> None:
        if self._outbox and (self._flush is None or self._flush.done()):
            self._flush = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        await asyncio.sleep(BATCH_S)
        while self._outbox and self._listener is not None:
            texts, self._outbox = self._outbox, []
            payloads: list[list[str]] = []
            current: list[str] = []
            size = 0
            head = json.dumps(self.node)
            for text in texts:
                if current and size + len(text) + 1 > MAX_PAYLOAD - len(head) - 32:
                    payloads.append(current)
                    current, size = [], 0
                current.append(text)
                size += len(text) + 1
            payloads.append(current)
            listener = self._listener
            try:
                await asyncio.wait_for(listener.executemany("SELECT pg_notify($1, $2)", [
                    (CHANNEL, f'{{"node":{head},"messages":[{",".join(p)}]}}') for p in payloads]), SEND_S)
                self.counters["published"] += len(texts)
            except Exception as exc:
                self.counters["dropped"] += len(texts)
                log.error("cluster: %d message(s) to the other nodes lost (%r); they re-read the tables later",
                          len(texts), exc)
                if isinstance(exc, TimeoutError) and self._listener is listener:  # half-open: connect again
                    listener.terminate()
                    self._on_lost(listener)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._flush is not None:
            await asyncio.gather(self._flush, return_exceptions=True)
        if self._listener is not None:
            await self._listener.close()
            self._listener = None


def binding_message(change: RegistrationChange) -> dict[str, Any]:
    row = registration_values(change.registration)
    return {"kind": "bind" if isinstance(change, RegistrationSaved) else "unbind", "row": row}


def binding_of(message: dict[str, Any]) -> RegistrationRow:
    return registration_from(message["row"])
