"""Write-behind (store/writer.py): what a failed batch becomes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from softswitch.store.writer import BatchWriter


class Store:
    def __init__(self) -> None:
        self.rows: list[str] = []
        self.up = True

    async def write(self, items: Sequence[str]) -> None:
        if not self.up:
            raise ConnectionError("the database is unreachable")
        if any(item.startswith("bad") for item in items):  # one transaction: all or none
            raise ValueError("value too long for type character varying(8)")
        self.rows.extend(items)


async def test_one_item_the_store_refuses_is_dropped_and_the_others_of_its_batch_written() -> None:
    store = Store()
    writer = BatchWriter(store.write, 0.01, "bindings")
    writer.enqueue(["a", "bad q=0.1234567", "b"])
    await writer.flush()
    assert store.rows == ["a", "b"] and writer.pending == 0 and (writer.written, writer.dropped) == (2, 1)
    writer.enqueue(["c"])  # and the next ones go in as before
    await writer.flush()
    assert store.rows == ["a", "b", "c"]


async def test_a_store_that_is_down_keeps_every_item_for_the_next_try() -> None:
    store = Store()
    store.up = False
    writer = BatchWriter(store.write, 0.01, "bindings")
    writer.enqueue(["a", "b"])
    await writer.flush()
    assert writer.pending == 2 and writer.dropped == 0
    store.up = True
    await writer.flush()
    assert store.rows == ["a", "b"] and writer.pending == 0


async def test_it_tells_since_when_something_it_holds_is_not_in_the_store() -> None:
    store, clock = Store(), iter(range(100, 200))
    writer = BatchWriter(store.write, 0.01, "bindings", clock=lambda: float(next(clock)))
    assert writer.unwritten_since is None
    writer.enqueue(["a"])
    writer.enqueue(["b"])
    assert writer.unwritten_since == 100.0  # the oldest waiting
    store.up = False
    await writer.flush()
    assert writer.unwritten_since == 100.0  # still not written
    store.up = True
    await writer.flush()
    assert writer.unwritten_since is None and store.rows == ["a", "b"]


async def test_a_failing_store_is_told_once_tried_less_often_and_not_sifted_item_by_item(
        caplog: pytest.LogCaptureFixture) -> None:
    store, now = Store(), [100.0]
    tries: list[int] = []
    real = store.write

    async def write(items: Sequence[str]) -> None:
        tries.append(len(items))
        await real(items)

    writer = BatchWriter(write, 0.2, "bindings", clock=lambda: now[0])
    store.up = False
    writer.enqueue(["a", "b", "c"])
    for _ in range(5):
        await writer.flush()
        now[0] += 1
    assert tries == [3] * 5  # the whole batch each time: a store that is down is not tried item by item
    assert writer.pending == 3 and writer.dropped == 0
    assert [r.levelname for r in caplog.records] == ["ERROR"]  # told once, not per try
    assert writer._retry_in == 6.4  # 0.4, 0.8, ... doubling up to MAX_RETRY
    now[0] += 60
    await writer.flush()
    assert "failing for" in caplog.records[-1].getMessage()  # and again a minute later
    store.up = True
    await writer.flush()
    assert store.rows == ["a", "b", "c"] and "work again" in caplog.records[-1].getMessage()
    assert writer._retry_in == 0.2


async def test_an_item_refused_amid_an_outage_is_dropped_and_the_rest_kept() -> None:
    store = Store()
    writer = BatchWriter(store.write, 0.01, "bindings")
    writer.enqueue(["a", "bad", "b"])
    calls = 0
    real = store.write

    async def flaky(items: Sequence[str]) -> None:  # the store goes away after the batch and one item
        nonlocal calls
        calls += 1
        if calls > 2:
            store.up = False
        await real(items)

    writer.write = flaky
    await writer.flush()
    # the batch is refused for "bad"; item by item, "a" goes in, then the store is gone: "bad" cannot
    # be told from the others any more, so it and "b" are kept (before, both were dropped as refused)
    assert store.rows == ["a"] and writer.dropped == 0 and writer.pending == 2
    store.up = True
    writer.write = store.write
    await writer.flush()
    assert store.rows == ["a", "b"] and writer.dropped == 1
