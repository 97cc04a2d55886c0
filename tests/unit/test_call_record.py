"""The call history row's parties: who was on the call, in order, and the seconds each is billed."""

from __future__ import annotations

from softswitch.b2bua.record import CallRecord, Party
from softswitch.store.records import CallRow, PartyRow, parties_from_json, parties_json

T0 = 1_800_000_000.0  # a wall-clock start


def test_party_billed_seconds_rounds_to_the_nearest_second() -> None:
    assert Party("101", "caller", T0, T0 + 12.4).billed_seconds == 12
    assert Party("101", "caller", T0, T0 + 12.5).billed_seconds == 13
    assert Party("101", "caller", T0).billed_seconds == 0  # never left: nothing billed
    assert Party("101", "caller", T0, T0 - 1.0).billed_seconds == 0  # a clock step back bills nothing


def transferred() -> CallRecord:
    """101 calls 102 (answered at +2 s); at +14.6 s 102 transfers blind to 104; 101 hangs up at +40 s."""
    rec = CallRecord("c1", "acme", "101", "102", "internal", T0, answered=T0 + 2.0, ended=T0 + 40.0,
                     disposition="answered", hangup_by="caller")
    rec.joined("101", "caller", T0 + 2.0)
    rec.joined("102", "callee", T0 + 2.0)
    rec.left("102", T0 + 14.6)
    rec.joined("104", "blind transfer", T0 + 14.6, by="102")
    rec.left(None, T0 + 40.0)
    return rec


def test_joined_and_left_keep_the_order_and_close_who_is_still_on() -> None:
    rec = transferred()
    assert [(p.who, p.role, round(p.joined - T0, 1), round((p.left or 0) - T0, 1), p.by) for p in rec.parties] == [
        ("101", "caller", 2.0, 40.0, None), ("102", "callee", 2.0, 14.6, None), ("104", "blind transfer", 14.6, 40.0, "102")]
    assert [p.billed_seconds for p in rec.parties] == [38, 13, 25]
    rec.left("101", T0 + 50.0)  # who has left stays left at the first time
    assert rec.parties[0].left == T0 + 40.0


def test_a_party_back_on_the_call_is_a_new_party() -> None:
    rec = CallRecord("c2", "acme", "101", "102", "internal", T0)
    rec.joined("102", "callee", T0)
    rec.left("102", T0 + 10.0)
    rec.joined("102", "ring-back", T0 + 70.0)
    rec.left("102", T0 + 75.0)
    assert [(p.role, p.billed_seconds) for p in rec.parties] == [("callee", 10), ("ring-back", 5)]


def test_row_snapshots_the_parties() -> None:
    rec = transferred()
    row = rec.row()
    assert row.parties == (PartyRow("101", "caller", T0 + 2.0, T0 + 40.0), PartyRow("102", "callee", T0 + 2.0, T0 + 14.6),
                           PartyRow("104", "blind transfer", T0 + 14.6, T0 + 40.0, "102"))
    assert [p.billed_seconds for p in row.parties] == [p.billed_seconds for p in rec.parties]
    rec.joined("105", "attended transfer", T0 + 41.0, by="104")  # later changes do not reach the row
    assert len(row.parties) == 3


def test_parties_column_round_trips_and_old_rows_have_none() -> None:
    row = transferred().row()
    text = parties_json(row.parties)
    assert text is not None and parties_from_json(text) == row.parties
    assert row.as_row()["parties"] == text and CallRow.columns()[-1] == "parties"
    assert CallRow.from_row(row.as_row()) == row
    assert parties_json(()) is None and parties_from_json(None) == () and parties_from_json("") == ()
    old = row.as_row()
    del old["parties"]  # a row read from before migration 0005
    assert CallRow.from_row(old).parties == ()

