"""Write-behind (store/writer.py): what a failed batch becomes."""

from __future__ import annotations

from collections.abc import Sequence

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
