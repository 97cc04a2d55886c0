"""The parking lot of a running switch: the pure lot, kept in step with the store.

A slot is taken in the process's own lot first (so two parks in the same moment
never get the same slot), then claimed in the store, where another switch process
sharing the database may already hold it; then the lot learns that and the park
tries the next slot.  Every change of a slot goes to ``on_change`` (BLF).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable

from ..config.schema import Park
from ..sip.transaction import Target
from ..store import ParkedRow, ParkStore
from ..store.base import STALE_AFTER
from .lot import Parked, ParkingLot, Refused

log = logging.getLogger(__name__)

CLAIM_ATTEMPTS = 5


def node_name(listen: tuple[str, int]) -> str:
    """This process among the switch processes sharing a store: host and SIP address."""
    return f"{socket.gethostname()}/{listen[0]}:{listen[1]}"


class ParkService:
    def __init__(self, store: ParkStore, node: str, *, pick: Callable[[list[int]], int] | None = None) -> None:
        self.store = store
        self.node = node
        self.lot = ParkingLot(pick or random.SystemRandom().choice)
        self.on_change: Callable[[str, int, Parked | None], None] = lambda account, slot, entry: None
        self.on_local_change: Callable[[str, int, Parked | None], None] | None = None  # a cluster's other nodes hear it
        self.remote: dict[tuple[str, int], tuple[str, Target, Parked]] = {}  # slots other nodes hold: node, its address
        self._writes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        cleared = await self.store.clear_node(self.node)
        if cleared:
            log.info("park: %d slot(s) held by this switch's previous run released", cleared)

    def take(self, account: str, park: Park, entry: Parked, requested: int | None, now: float) -> Parked | Refused:
        """Choose and take a slot in this process's lot (``entry.slot`` is filled in)."""
        choice = self.lot.choose(account, park, entry.call, now, requested)
        if isinstance(choice, Refused):
            return choice
        entry.slot = choice
        self.lot.park(entry)
        self._changed(account, choice, entry, tell_others=False)  # once the store's claim is won (``record``)
        return entry

    async def record(self, account: str, park: Park, entry: Parked, requested: int | None, now: float) -> Parked | Refused:
        """Write a slot ``take`` gave to the store; while another switch process holds the slot
        chosen, take the next one."""
        for _ in range(CLAIM_ATTEMPTS):
            try:
                held_until = await self.store.claim_slot(_row(entry), self.node, now)
            except Exception:
                log.exception("park: recording slot %s of %s failed; kept in this process only", entry.code, account)
                held_until = None
            if held_until is None:
                # Only now do the other nodes hear of it: two nodes taking the same slot at once
                # must not both announce it, the loser's "empty" then wiping the winner's.
                if self.on_local_change is not None and self.lot.find(account, entry.slot) is entry:
                    self.on_local_change(account, entry.slot, entry)
                return entry
            log.info("park: slot %s of %s is held by another switch process", entry.code, account)
            self.release(account, entry.slot, now, store=False)
            self.lot.held_by_another(account, entry.slot, held_until)
            taken = self.take(account, park, entry, requested, now)
            if isinstance(taken, Refused):
                return taken
        self.release(account, entry.slot, now, store=False)
        return Refused(503, "Parking Lot Busy")

    def release(self, account: str, slot: int, now: float, *, picked_up: bool = False, window: float = 0.0,
                store: bool = True) -> Parked | None:
        """``store``: False for a slot whose claim another node won: it was never this node's
        (not in the store, not told to the other nodes)."""
        entry = self.lot.unpark(account, slot, now, picked_up=picked_up, window=window)
        if entry is None:
            return None
        self._changed(account, slot, None, tell_others=store)
        if store:
            self._forget_row(account, slot, entry.call)
        return entry

    def _changed(self, account: str, slot: int, entry: Parked | None, *, tell_others: bool = True) -> None:
        self.on_change(account, slot, entry)
        if tell_others and self.on_local_change is not None:
            self.on_local_change(account, slot, entry)

    # --- slots of other nodes (cluster mode) ------------------------------------------
    def find(self, account: str, slot: int) -> Parked | None:
        """The call in a slot, parked here or on another node."""
        local = self.lot.find(account, slot)
        if local is not None:
            return local
        remote = self.remote.get((account, slot))
        return remote[2] if remote is not None else None

    def owner(self, account: str, slot: int) -> tuple[str, Target] | None:
        """The node holding a slot this node does not, and where it is reached."""
        remote = self.remote.get((account, slot))
        return (remote[0], remote[1]) if remote is not None and self.lot.find(account, slot) is None else None

    def learn(self, node: str, address: Target, account: str, slot: int, entry: Parked | None) -> None:
        """Another node parked a call in ``slot`` (``entry``) or its slot emptied (None)."""
        key = (account, slot)
        if entry is None:
            if self.remote.get(key, ("",))[0] != node:
                return
            del self.remote[key]
            self.lot.held_elsewhere.pop(key, None)
        else:
            self.remote[key] = (node, address, entry)
            self.lot.held_by_another(account, slot, entry.expires_at + STALE_AFTER)
        self.on_change(account, slot, entry)

    def forget_node(self, node: str) -> None:
        """``node`` stopped or started again: the slots it held are empty."""
        for (account, slot), (holder, address, _) in list(self.remote.items()):
            if holder == node:
                self.learn(node, address, account, slot, None)

    def _forget_row(self, account: str, slot: int, call: str) -> None:
        async def run() -> None:
            try:
                await self.store.release_slot(account, slot, call)
            except Exception:
                log.exception("park: removing slot %s of %s from the store failed", slot, account)

        task = asyncio.get_running_loop().create_task(run())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def close(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def call_ended(self, call: str, now: float) -> None:
        entry = self.lot.of_call(call)
        if entry is not None:
            self.release(entry.account, entry.slot, now)
        self.lot.forget(call)


def _row(entry: Parked) -> ParkedRow:
    """The store's row of a parked call (the store keeps its own types)."""
    return ParkedRow(entry.account, entry.slot, entry.call, entry.parked_at, entry.expires_at, entry.parker, entry.party)
