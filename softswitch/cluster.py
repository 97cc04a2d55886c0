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
from .guard import Guard
from .park.lot import Parked
from .park.service import ParkService
from .registrar.core import Binding, Change, Saved
from .registrar.service import RegistrarService, binding_of_row, row_of_binding
from .sip.transaction import Target
from .store.cluster import ClusterStore, binding_message, binding_of
from .store.records import ParkedRow, RegistrationRemoved, RegistrationSaved
from .store.sql import SqlStore

log = logging.getLogger(__name__)

FRESH = 5.0  # seconds: a binding this young may not be in the store yet (written in batches)
QUEUED_WITHIN = 1.0  # seconds between a binding's registration time and its write's queueing, at most


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
        self.park: ParkService | None = None
        self.peers: dict[str, Target] = {}  # the other nodes' SIP addresses, by name (from their beats)
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._released: set[str] = set()  # dead nodes whose park slots were released
        self._memory_out: dict[tuple[str, str, str], str] = {}  # (account, kind, name) -> the latest value
        self._bans_out: list[tuple[str, float, str]] = []
        self._lifted_out: list[str] = []
        self.guard: Guard | None = None
        self.shared.on_message = self._on_message
        self.shared.on_reconnect = self._reconnected
        self._catching_up: asyncio.Task[None] | None = None

    async def join(self) -> bytes:
        """Announce this node, start listening; the cluster's nonce secret."""
        await self.shared.beat(self.address, self.clock(), starting=True)
        await self.shared.listen()
        return await self.shared.nonce_secret()

    def attach(self, registrar: RegistrarService, memory: HuntMemory, park: ParkService | None = None,
               guard: Guard | None = None) -> None:
        self.registrar = registrar
        self.memory = memory
        self.park = park
        self.guard = guard
        if guard is not None:
            guard.on_ban = self._banned
            guard.on_lift = self._lifted
        registrar.on_changes = self._bindings_changed
        memory.on_change = self._memory_changed
        if park is not None:
            park.on_local_change = self._park_changed

    def _reconnected(self) -> None:
        """Back on the notifications after losing them: re-read what went by meanwhile."""
        async def catch_up() -> None:
            try:
                await self._read_peers()
                if self.memory is not None:
                    for account, kind, name, value in await self.shared.load_hunt_memory():
                        self.memory.learn(kind, account, name, value)
                await self.resync()
            except Exception:
                log.exception("cluster: catching up after the connection came back failed")

        self._catching_up = asyncio.get_running_loop().create_task(catch_up())

    async def _load_bans(self) -> None:
        """The bans the store holds (at start, and at each resync: a notification missed)."""
        if self.guard is not None:
            now = self.clock()
            for source, until, why in await self.shared.load_bans(now):
                self.guard.learn_ban(source, why, until - now, "(from the store)", stored=True)

    def is_peer(self, source: Target) -> bool:
        """A request from another node of the cluster (trusted as a node: it authenticated the phone)."""
        return any(source.host == p.host and source.port == p.port for p in self.peers.values())

    async def start(self) -> None:
        if self.memory is not None:
            for account, kind, name, value in await self.shared.load_hunt_memory():
                self.memory.learn(kind, account, name, value)
        await self._load_bans()
        await self._read_peers()
        self.shared.publish({"kind": "hello", "address": self.address})  # whatever this node held before is gone
        if self.park is not None:
            for row, node in await self.store.list_parked():
                if node != self.name and node in self.peers:
                    self.park.learn(node, self.peers[node], row.account, row.slot, _parked(row))
        try:  # what the others stored between this node's first read and its listening
            await self.resync()
        except Exception:  # the periodic resync tries again
            log.exception("cluster: the first resync failed")
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
        now = self.clock()
        for change in changes:
            if isinstance(change, Saved) and change.previous_expiry is not None \
                    and change.previous_expiry - now > self.settings.resync + FRESH:
                # A refresh that only moved the expiry: the others' copy lasts until the next
                # resync, which reads the new expiry from the store (most REGISTERs are these).
                continue
            row = row_of_binding(change.binding)
            self.shared.publish(binding_message(RegistrationSaved(row) if isinstance(change, Saved) else RegistrationRemoved(row)))

    def _memory_changed(self, kind: str, account: str, name: str, value: str) -> None:
        self.shared.publish({"kind": "hunt", "what": kind, "account": account, "name": name, "value": value})
        self._memory_out[(account, kind, name)] = value

    def _park_changed(self, account: str, slot: int, entry: Parked | None) -> None:
        shown = None if entry is None else {"call": entry.call, "parked_at": entry.parked_at, "expires_at": entry.expires_at,
                                            "parker": entry.parker, "party": entry.party}
        self.shared.publish({"kind": "park", "address": self.address, "account": account, "slot": slot, "entry": shown})

    def _banned(self, source: str, why: str, seconds: float) -> None:
        self.shared.publish({"kind": "ban", "source": source, "why": why, "seconds": seconds})
        self._bans_out.append((source, self.clock() + seconds, why))

    def _lifted(self, source: str) -> None:
        self.shared.publish({"kind": "lift", "source": source})
        self._lifted_out.append(source)
        self._forget_ban(source)

    def _forget_ban(self, source: str) -> None:
        """A ban lifted: not to be written to the store after the lift's delete."""
        self._bans_out = [ban for ban in self._bans_out if ban[0] != source]

    async def _save_memory(self) -> None:
        batch = [(account, kind, name, value) for (account, kind, name), value in self._memory_out.items()]
        self._memory_out = {}
        bans, self._bans_out = self._bans_out, []
        lifted, self._lifted_out = self._lifted_out, []
        try:
            await self.shared.save_hunt_memory(batch)
            if bans or lifted:
                await self.shared.save_bans(bans, lifted)
        except Exception:  # kept for the next beat: a lift lost here would bring its ban back at every resync
            log.exception("cluster: routing's memory (%d changes) and bans (%d) not saved; trying again at the next beat",
                          len(batch), len(bans))
            for account, kind, name, value in batch:
                self._memory_out.setdefault((account, kind, name), value)
            self._bans_out[:0] = [ban for ban in bans if ban[0] not in self._lifted_out]
            self._lifted_out[:0] = lifted

    # --- what the others change ------------------------------------------------
    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind in ("bind", "unbind") and self.registrar is not None:
            binding = binding_of_row(binding_of(message))
            self.registrar.learn([binding] if kind == "bind" else [], [binding] if kind == "unbind" else [])
        elif kind == "hunt" and self.memory is not None:
            self.memory.learn(str(message["what"]), str(message["account"]), str(message["name"]), str(message["value"]))
        elif kind == "park" and self.park is not None:
            node, address = str(message["node"]), _target(str(message["address"]))
            self.peers[node] = address
            entry = message.get("entry")
            account, slot = str(message["account"]), int(message["slot"])
            parked = None if not isinstance(entry, dict) else Parked(account, slot, str(entry["call"]), float(entry["parked_at"]),
                                                                    float(entry["expires_at"]), str(entry["parker"]), str(entry["party"]))
            self.park.learn(node, address, account, slot, parked)
        elif kind == "ban" and self.guard is not None:
            self.guard.learn_ban(str(message["source"]), str(message["why"]), float(message["seconds"]), str(message["node"]))
        elif kind == "lift" and self.guard is not None:
            self.guard.learn_lift(str(message["source"]), str(message["node"]))
            self._forget_ban(str(message["source"]))
        elif kind == "hello":
            node = str(message["node"])
            self.peers[node] = _target(str(message["address"]))
            if self.park is not None:
                self.park.forget_node(node)

    # --- heartbeat, dead nodes, resync ------------------------------------------
    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat)
            try:
                now = self.clock()
                await self.shared.beat(self.address, now, draining=self.draining)
                await self._read_peers()
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
            if self.park is not None:
                self.park.forget_node(name)
            released = await self.store.clear_node(name)
            log.warning("cluster: node %s silent for %.0f s: dead; %d park slot(s) it held released", name, silent, released)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync)
            try:
                await self.resync()
            except Exception:
                log.exception("cluster: re-reading the shared state failed")

    async def resync(self) -> None:
        """Re-read what notifications may have missed: registrations, park slots, bans."""
        try:
            await self._load_bans()
        except Exception:  # the rest is re-read all the same
            log.exception("cluster: re-reading the bans failed")
        if self.registrar is not None:
            writer = self.registrar.writer  # what it had not written when the store was read, at the latest:
            before = self.clock() if writer.unwritten_since is None else writer.unwritten_since
            self._reconcile([binding_of_row(r) for r in await self.store.list_bindings(self.clock())], before)
        if self.park is not None:
            held = {(row.account, row.slot): (row, node) for row, node in await self.store.list_parked()}
            for (account, slot), (node, address, _) in list(self.park.remote.items()):
                if held.get((account, slot), (None, ""))[1] != node:
                    self.park.learn(node, address, account, slot, None)
            for (account, slot), (row, node) in held.items():
                if node != self.name and node in self.peers and (account, slot) not in self.park.remote:
                    self.park.learn(node, self.peers[node], account, slot, _parked(row))

    def _reconcile(self, stored: list[Binding], unwritten_at_read: float | None = None) -> None:
        """Make the table hold what ``stored`` (read from the store) holds: bindings other nodes
        made or removed.  This node's own writes may not have reached the store yet: a binding
        registered after the oldest write its write-behind held when the store was read
        (``unwritten_at_read``; the read's own time if none) or holds now is kept."""
        assert self.registrar is not None
        registrar = self.registrar
        now = self.clock()
        keep = {(b.account, b.extension, b.key) for b in stored}
        unwritten = registrar.writer.unwritten_since
        marks = [m for m in (unwritten_at_read, unwritten) if m is not None]
        # (a binding is made a moment before its write is queued: a second's margin)
        written_before = min([now - FRESH, *(m - QUEUED_WITHIN for m in marks)])
        gone = [b for b in registrar.table.all(now) if (b.account, b.extension, b.key) not in keep
                and b.registered_at < written_before]
        # only what is newer than this node's copy (its own writes may still be queued)
        registrar.learn([b for b in stored if (current := _current(registrar, b, now)) is None
                         or b.registered_at > current.registered_at], gone)

    async def _read_peers(self) -> None:
        """The other nodes alive now (a dead one's address may be anyone's by now)."""
        now = self.clock()
        self.peers = {n["name"]: _target(n["address"]) for n in await self.shared.nodes()
                      if n["name"] != self.name and now - n["seen_at"] < self.settings.dead_after}

    def status(self) -> dict[str, object]:
        return {"node": self.name, **self.shared.counters}


def _target(address: str) -> Target:
    host, _, port = address.rpartition(":")
    return Target("UDP", host.strip("[]"), int(port))


def _parked(row: ParkedRow) -> Parked:
    return Parked(row.account, row.slot, row.call, row.parked_at, row.expires_at, row.parker, row.party)


def _current(registrar: RegistrarService, b: Binding, now: float) -> Binding | None:
    return next((c for c in registrar.table.lookup(b.account, b.extension, now) if c.key == b.key), None)
