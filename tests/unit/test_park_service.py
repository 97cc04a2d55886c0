"""The parking lot of a running switch beside other nodes (park/service.py): what the other
nodes are told, and when."""

from __future__ import annotations

from softswitch.config.schema import Park
from softswitch.park.lot import Parked
from softswitch.park.service import ParkService
from softswitch.store import ParkedRow


class Store:
    """A shared store where another node already won slot 801."""

    def __init__(self) -> None:
        self.claimed: list[int] = []

    async def claim_slot(self, entry: ParkedRow, node: str, now: float) -> float | None:
        if entry.slot == 801:
            return now + 300  # held by the other node until then
        self.claimed.append(entry.slot)
        return None

    async def release_slot(self, account: str, slot: int, call: str) -> None:
        pass

    async def clear_node(self, node: str) -> int:
        return 0


async def test_the_other_nodes_hear_of_a_slot_only_once_its_claim_is_won() -> None:
    """Two nodes taking *801 at once: the one that loses the claim takes *802.  Had it told the
    others of *801 and then of *801 emptied, a third node would have wiped the winner's *801."""
    store = Store()
    parks = ParkService(store, "b")  # type: ignore[arg-type]
    told: list[tuple[int, bool]] = []
    shown: list[tuple[int, bool]] = []
    parks.on_local_change = lambda account, slot, entry: told.append((slot, entry is not None))
    parks.on_change = lambda account, slot, entry: shown.append((slot, entry is not None))
    park, now = Park(), 1000.0
    entry = Parked("acme", 0, "call-1", now, now + 300, "102", "<sip:101@acme.example>")
    assert parks.take("acme", park, entry, None, now) is entry and entry.slot == 801
    assert told == []  # not yet: the store has not said
    assert await parks.record("acme", park, entry, None, now) is entry
    assert entry.slot == 802 and store.claimed == [802]
    assert told == [(802, True)]  # the others hear of *802 alone
    assert shown == [(801, True), (801, False), (802, True)]  # this node's own lamps follow every step
    parks.release("acme", 802, now + 10, picked_up=True)
    assert told == [(802, True), (802, False)]
