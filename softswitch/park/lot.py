"""The parking lot: which slot a call parks in, who holds which slot, and re-park
reservations (SPEC "Call park").  Pure: time comes in as ``now`` and randomness
as a function, so every decision can be replayed in a test.

Theory of operation
-------------------
Slots are numbers in a per-account range (default 801-899), shown and dialled
with a leading star (``*801``).  A slot is *free* for a call when nobody holds
it: not a call parked here, not a reservation of another call, not a row
another switch process wrote in the store (``held_elsewhere``, learned when the
store refuses a claim).

``choose`` picks the slot for a call to park in:
  * a call picked up from a slot less than ``repark_window`` seconds ago goes
    back to that slot (the reservation keeps everybody else out of it until
    then);
  * a directed park (``*805``) takes that slot or is refused;
  * otherwise the lowest free slot (``sequential``: BLF keys light up in order),
    or any free slot (``random``).
``park`` and ``unpark`` record the outcome; ``unpark(..., picked_up=True)``
starts the reservation.

The lot reads an account's park settings through ``SlotRange`` (the config's
``Park`` has these fields), so it imports nothing of the config layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class SlotRange(Protocol):
    """What the lot reads of an account's park settings (config.schema.Park)."""

    @property
    def first_slot(self) -> int: ...

    @property
    def last_slot(self) -> int: ...

    @property
    def assignment(self) -> str: ...  # "sequential" | "random"


def code(slot: int) -> str:
    return f"*{slot}"


def slot_of(dialled: str, park: SlotRange) -> int | None:
    """The slot a dialled code names (``*801``, or ``801`` as BLF keys write it), if it is one."""
    digits = dialled[1:] if dialled.startswith("*") else dialled
    if not digits.isdigit() or digits.startswith("0"):
        return None
    slot = int(digits)
    return slot if park.first_slot <= slot <= park.last_slot else None


@dataclass
class Parked:
    """A call in a slot."""

    account: str
    slot: int
    call: str  # the call's id (its history row)
    parked_at: float
    expires_at: float
    parker: str  # the extension that parked it
    party: str  # who is parked, as shown to a BLF subscriber (a name-addr)

    @property
    def code(self) -> str:
        return code(self.slot)


@dataclass(frozen=True, slots=True)
class Refused:
    status: int
    reason: str  # the SIP reason phrase / sipfrag text


FULL = Refused(503, "Parking Lot Full")
TAKEN = Refused(486, "Parking Slot Taken")


class ParkingLot:
    def __init__(self, pick: Callable[[list[int]], int]) -> None:
        self.pick = pick  # chooses among free slots for ``random`` assignment
        self.occupied: dict[tuple[str, int], Parked] = {}
        self.reserved: dict[tuple[str, int], tuple[str, float]] = {}  # -> (call id, until)
        self.held_elsewhere: dict[tuple[str, int], float] = {}  # -> until (the row's expiry)

    def find(self, account: str, slot: int) -> Parked | None:
        return self.occupied.get((account, slot))

    def of_call(self, call: str) -> Parked | None:
        return next((p for p in self.occupied.values() if p.call == call), None)

    def listing(self, account: str | None = None) -> list[Parked]:
        return sorted((p for p in self.occupied.values() if account in (None, p.account)), key=lambda p: (p.account, p.slot))

    def _reservation(self, key: tuple[str, int], now: float) -> str | None:
        held = self.reserved.get(key)
        if held is None:
            return None
        if now >= held[1]:
            del self.reserved[key]
            return None
        return held[0]

    def is_free(self, account: str, slot: int, call: str, now: float) -> bool:
        key = (account, slot)
        if key in self.occupied:
            return False
        if self.held_elsewhere.get(key, 0.0) > now:
            return False
        return self._reservation(key, now) in (None, call)

    def choose(self, account: str, park: SlotRange, call: str, now: float, requested: int | None = None) -> int | Refused:
        """The slot ``call`` parks in (not yet taken: see ``park``)."""
        mine = next((slot for (acc, slot), (holder, until) in self.reserved.items()
                     if acc == account and holder == call and now < until), None)
        if mine is not None and requested in (None, mine):
            return mine
        if requested is not None:
            return requested if self.is_free(account, requested, call, now) else TAKEN
        free = [s for s in range(park.first_slot, park.last_slot + 1) if self.is_free(account, s, call, now)]
        if not free:
            return FULL
        return free[0] if park.assignment == "sequential" else self.pick(free)

    def park(self, entry: Parked) -> None:
        key = (entry.account, entry.slot)
        self.occupied[key] = entry
        self.reserved.pop(key, None)

    def unpark(self, account: str, slot: int, now: float, *, picked_up: bool = False, window: float = 0.0) -> Parked | None:
        """The slot empties; a call picked up from it may come back to it for ``window`` s."""
        entry = self.occupied.pop((account, slot), None)
        if entry is not None and picked_up and window > 0:
            self.reserved[(account, slot)] = (entry.call, now + window)
        return entry

    def forget(self, call: str) -> None:
        """A call ended: its reservations go."""
        for key, (holder, _) in list(self.reserved.items()):
            if holder == call:
                del self.reserved[key]

    def held_by_another(self, account: str, slot: int, until: float) -> None:
        """The store says another switch process holds this slot (until its row expires)."""
        self.held_elsewhere[(account, slot)] = until
