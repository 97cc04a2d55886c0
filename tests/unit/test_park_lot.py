"""The parking lot's choices (SPEC "Call park": slots, assignment, re-park reservation)."""

from __future__ import annotations

import random

from softswitch.config.schema import Park
from softswitch.park.lot import FULL, TAKEN, Parked, ParkingLot, code, slot_of


def entry(slot: int, call: str, now: float = 0.0) -> Parked:
    return Parked("acme", slot, call, now, now + 300, "102", "<sip:101@acme.example>")


def fill(lot: ParkingLot, park: Park, calls: list[str], now: float = 0.0) -> list[int]:
    out = []
    for call in calls:
        slot = lot.choose("acme", park, call, now)
        assert isinstance(slot, int)
        lot.park(entry(slot, call, now))
        out.append(slot)
    return out


def test_codes_and_dialled_slots() -> None:
    park = Park()
    assert code(801) == "*801"
    assert slot_of("*801", park) == 801 and slot_of("801", park) == 801 and slot_of("*899", park) == 899
    assert slot_of("*800", park) is None and slot_of("*900", park) is None
    assert slot_of("*85", park) is None and slot_of("*0801", park) is None and slot_of("abc", park) is None


def test_sequential_gives_the_lowest_free_slot_in_order() -> None:
    lot = ParkingLot(random.Random(1).choice)
    park = Park()
    assert fill(lot, park, ["c1", "c2", "c3"]) == [801, 802, 803]
    lot.unpark("acme", 802, 10.0)
    assert lot.choose("acme", park, "c4", 10.0) == 802  # a gap is filled first
    assert lot.choose("globex", park, "c5", 10.0) == 801  # each account has its own lot


def test_random_spreads_over_the_range() -> None:
    lot = ParkingLot(random.Random(7).choice)
    park = Park(assignment="random")
    slots = fill(lot, park, [f"c{i}" for i in range(20)])
    assert len(set(slots)) == 20
    assert all(801 <= s <= 899 for s in slots)
    assert slots != sorted(slots) and max(slots) - min(slots) > 40


def test_a_full_lot_and_a_taken_slot_are_refused() -> None:
    lot = ParkingLot(random.Random(1).choice)
    park = Park(first_slot=801, last_slot=803)
    fill(lot, park, ["c1", "c2", "c3"])
    assert lot.choose("acme", park, "c4", 0.0) is FULL
    assert lot.choose("acme", park, "c4", 0.0, requested=802) is TAKEN
    lot.unpark("acme", 802, 1.0)
    assert lot.choose("acme", park, "c4", 1.0, requested=802) == 802


def test_repark_within_the_window_returns_to_the_same_code() -> None:
    lot = ParkingLot(random.Random(1).choice)
    park = Park(repark_window=30)
    fill(lot, park, ["c1", "c2"])  # 801, 802
    lot.unpark("acme", 801, 100.0, picked_up=True, window=park.repark_window)
    # Reserved: nobody else gets 801 in the window, not even by a directed park.
    assert lot.choose("acme", park, "c3", 110.0) == 803
    assert lot.choose("acme", park, "c3", 110.0, requested=801) is TAKEN
    assert lot.choose("acme", park, "c1", 129.0) == 801
    # After the window the code is released: c1 gets whatever is next, and 801 is free for all.
    assert lot.choose("acme", park, "c3", 130.0) == 801
    lot.park(entry(801, "c3", 130.0))
    assert lot.choose("acme", park, "c1", 131.0) == 803


def test_an_ended_call_drops_its_reservation_and_other_processes_hold_slots() -> None:
    lot = ParkingLot(random.Random(1).choice)
    park = Park()
    fill(lot, park, ["c1"])
    lot.unpark("acme", 801, 0.0, picked_up=True, window=30)
    lot.forget("c1")
    assert lot.choose("acme", park, "c2", 1.0) == 801
    lot.held_by_another("acme", 801, until=50.0)
    assert lot.choose("acme", park, "c2", 1.0) == 802
    assert lot.choose("acme", park, "c2", 50.0) == 801
    assert [p.code for p in lot.listing("acme")] == []


def test_site_overrides_apply_over_the_account_settings() -> None:
    from softswitch.config.schema import ParkOverride, Site

    park = Park(expiry=300, assignment="sequential")
    site = Site(name="branch", park=ParkOverride(first_slot=850, assignment="random", expiry=60))
    merged = park.for_site(site)
    assert (merged.first_slot, merged.last_slot, merged.assignment, merged.expiry, merged.on_expiry) == (850, 899, "random", 60, "parker")
    assert park.for_site(Site(name="hq")) is park
