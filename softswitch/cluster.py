"""This process as one node of a cluster (``cluster:`` in the config; README "Running several
nodes"): the nodes share a PostgreSQL store and sit behind an edge proxy that adds a Path to
every REGISTER, so any node reaches any phone through the edge.

Each node tells the others what it changes (``store.cluster``: PostgreSQL notifications) and
applies what they tell it: bindings to the registrar's table, routing's memory (rrmemory,
leastrecent, outbound rotation) to the call service's.  It beats in the ``nodes`` table, and
releases the park slots of a node whose beat stopped (after ``park_grace``: its calls died
with it).  Every ``resync`` seconds it re-reads the registrations, in case a notification was
lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from .b2bua.routing import HuntMemory
from .config.schema import Cluster
from .registrar.core import Binding, Change, Saved
from .registrar.service import RegistrarService, binding_of_row, row_of_binding
from .store.cluster import ClusterStore, binding_message, binding_of
from .store.records import RegistrationRemoved, RegistrationSaved
from .store.sql import SqlStore

log = logging.getLogger(__name__)

FRESH = 5.0  # seconds: a binding this young may not be in the store yet (written in batches)


class ClusterNode:
    def __init__(self, settings: Cluster, store: SqlStore, address: str, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.name = settings.node
        self.address = address
        self.shared = ClusterStore(store, settings.node)
        self.store = store
        self.clock = clock
        self.registrar: RegistrarService | None = None
        self.memory: HuntMemory | None = None
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._released: set[str] = set()  # dead nodes whose park slots were released
        self._memory_out: list[tuple[str, str, str, str]] = []
        self.shared.on_message = self._on_message

    async def join(self) -> bytes:
        """Announce this node, start listening; the cluster's nonce secret."""
        await self.shared.beat(self.address, self.clock(), starting=True)
        await self.shared.listen()
        return await self.shared.nonce_secret()

    def attach(self, registrar: RegistrarService, memory: HuntMemory) -> None:
        self.registrar = registrar
        self.memory = memory
        registrar.on_changes = self._bindings_changed
        memory.on_change = self._memory_changed

    async def start(self) -> None:
        if self.memory is not None:
            for account, kind, name, value in await self.shared.load_hunt_memory():
                self.memory.learn(kind, account, name, value)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._beat()), loop.create_task(self._resync())]
        log.info("cluster: node %s at %s joined", self.name, self.address)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._save_memory()
        try:
            await self.shared.leave()
        except Exception:
            log.exception("cluster: could not record that node %s left", self.name)
        await self.shared.close()

    # --- what this node changes ------------------------------------------------
    def _bindings_changed(self, changes: Sequence[Change]) -> None:
        for change in changes:
            row = row_of_binding(change.binding)
            self.shared.publish(binding_message(RegistrationSaved(row) if isinstance(change, Saved) else RegistrationRemoved(row)))

    def _memory_changed(self, kind: str, account: str, name: str, value: str) -> None:
        self.shared.publish({"kind": "hunt", "what": kind, "account": account, "name": name, "value": value})
        self._memory_out.append((account, kind, name, value))

    async def _save_memory(self) -> None:
        batch, self._memory_out = self._memory_out, []
        try:
            await self.shared.save_hunt_memory(batch)
        except Exception:
            log.exception("cluster: routing's memory (%d changes) not saved", len(batch))

    # --- what the others change ------------------------------------------------
    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind in ("bind", "unbind") and self.registrar is not None:
            binding = binding_of_row(binding_of(message))
            self.registrar.learn([binding] if kind == "bind" else [], [binding] if kind == "unbind" else [])
        elif kind == "hunt" and self.memory is not None:
            self.memory.learn(str(message["what"]), str(message["account"]), str(message["name"]), str(message["value"]))

    # --- heartbeat, dead nodes, resync ------------------------------------------
    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat)
            try:
                now = self.clock()
                await self.shared.beat(self.address, now, draining=self.draining)
                await self._save_memory()
                await self._release_dead(now)
            except Exception:
                log.exception("cluster: heartbeat of node %s failed", self.name)

    async def _release_dead(self, now: float) -> None:
        for node in await self.shared.nodes():
            name = node["name"]
            if name == self.name:
                continue
            silent = now - node["seen_at"]
            if silent < self.settings.dead_after:
                self._released.discard(name)
                continue
            if name in self._released or silent < self.settings.dead_after + self.settings.park_grace:
                continue
            self._released.add(name)
            released = await self.store.clear_node(name)
            log.warning("cluster: node %s silent for %.0f s: dead; %d park slot(s) it held released", name, silent, released)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync)
            if self.registrar is None:
                continue
            try:
                rows = await self.store.list_bindings(self.clock())
            except Exception:
                log.exception("cluster: re-reading the registrations failed")
                continue
            self._reconcile([binding_of_row(r) for r in rows])

    def _reconcile(self, stored: list[Binding]) -> None:
        """Make the table hold what the store holds (for bindings other nodes made; this
        node's own writes may still be on their way to the store, so its own are kept)."""
        assert self.registrar is not None
        registrar = self.registrar
        now = self.clock()
        keep = {(b.account, b.extension, b.key) for b in stored}
        gone = [b for b in registrar.table.all(now) if (b.account, b.extension, b.key) not in keep
                and now - b.registered_at > FRESH]
        registrar.learn([b for b in stored if b != _current(registrar, b, now)], gone)

    def status(self) -> dict[str, object]:
        return {"node": self.name, **self.shared.counters}


def _current(registrar: RegistrarService, b: Binding, now: float) -> Binding | None:
    return next((c for c in registrar.table.lookup(b.account, b.extension, now) if c.key == b.key), None)
