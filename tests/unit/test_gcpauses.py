"""The collector's pauses, as `softswitch counters` shows them (section gc)."""

from __future__ import annotations

import gc

from softswitch.gcpauses import GcPauses


def test_a_full_collection_is_counted_with_its_pause() -> None:
    pauses = GcPauses()
    pauses.install()
    try:
        pauses.install()  # once only
        assert gc.callbacks.count(pauses) == 1
        garbage = [[] for _ in range(10_000)]
        for item in garbage:
            item.append(item)  # cycles: only the collector frees them
        del garbage, item
        gc.collect(2)
    finally:
        pauses.uninstall()
    out = pauses.counters()
    assert out["gen2_collections"] >= 1
    assert out["gen2_pause_max_ms"] > 0
    assert out["gen2_pause_total_ms"] >= out["gen2_pause_max_ms"]
    assert pauses not in gc.callbacks


def test_a_stop_without_its_start_is_ignored() -> None:
    pauses = GcPauses()
    pauses("stop", {"generation": 0})
    assert pauses.counters()["gen0_collections"] == 0
    pauses("start", {"generation": 1})
    pauses("stop", {"generation": 1})
    assert pauses.counters()["gen1_collections"] == 1
