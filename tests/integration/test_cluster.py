"""Two cluster nodes on one PostgreSQL store (scripts/test starts it): the nonce secret is
shared, a binding registered at one node is known to the other at once (PostgreSQL's
notifications) and after a restart (the table), routing's memory follows, and a dead node's
park slots are released after the grace time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import pytest

from softswitch.b2bua.routing import HuntMemory
from softswitch.cluster import ClusterNode
from softswitch.config.schema import Cluster
from softswitch.registrar.core import Binding, Saved
from softswitch.registrar.service import row_of_binding
from softswitch.sip.transaction import Target
from softswitch.store import open_store
from softswitch.store.records import ParkedRow, RegistrationSaved
from softswitch.store.sql import SqlStore

from .test_store_contract import PG_URL, fresh_postgres

PATH = ("<sip:127.0.0.1:5060;lr;received=sip:10.0.0.7:5062>",)


class FakeRegistrar:
    """The registrar's side the node talks to: its table (learn) and its hook (on_changes)."""

    def __init__(self) -> None:
        self.learned: list[Binding] = []
        self.forgotten: list[Binding] = []
        self.on_changes: Callable[..., None] | None = None
        self.writer = SimpleNamespace(unwritten_since=None)  # its write-behind: all written

    def learn(self, saved: list[Binding], removed: list[Binding]) -> None:
        self.learned += saved
        self.forgotten += removed


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def stores() -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    if not PG_URL:
        pytest.skip("!!! SOFTSWITCH_TEST_PG_URL is not set: scripts/test sets up PostgreSQL and sets it")
    await fresh_postgres(PG_URL)
    a, b = await open_store(PG_URL), await open_store(PG_URL)
    assert isinstance(a, SqlStore) and isinstance(b, SqlStore)
    yield a, b
    await a.close()
    await b.close()


def settings(node: str, **more: float) -> Cluster:
    return Cluster(node=node, edges=["127.0.0.1/32"], **more)


async def test_two_nodes_share_the_secret_bindings_and_routing_memory(stores: tuple[SqlStore, SqlStore]) -> None:
    a = ClusterNode(settings("a"), stores[0], "127.0.0.11:5060")
    b = ClusterNode(settings("b"), stores[1], "127.0.0.12:5060")
    secret_a, secret_b = await a.join(), await b.join()
    assert secret_a == secret_b and len(secret_a) == 32
    reg_a, reg_b = FakeRegistrar(), FakeRegistrar()
    memory_a, memory_b = HuntMemory(), HuntMemory()
    a.attach(reg_a, memory_a)  # type: ignore[arg-type]
    b.attach(reg_b, memory_b)  # type: ignore[arg-type]
    await a.start()
    await b.start()
    try:
        phone = Binding("acme", "101", "uri:x", "<sip:101@10.0.0.7:5062>", "sip:101@10.0.0.7:5062", time.time() + 600,
                        time.time(), "cid", 1, Target("UDP", "127.0.0.1", 5060), True, path=PATH)
        assert reg_a.on_changes is not None
        reg_a.on_changes([Saved(phone)])
        await eventually(lambda: bool(reg_b.learned))
        (got,) = reg_b.learned
        assert got == phone and got.path == PATH and got.target == Target("UDP", "127.0.0.1", 5060)
        assert reg_a.learned == []  # a node does not hear itself

        memory_a.answered("acme", "600", "102")
        memory_a.idle("acme", {"103"}, 1234.5)
        await eventually(lambda: memory_b.last_answered.get(("acme", "600")) == "102"
                         and memory_b.idle_since.get(("acme", "103")) == 1234.5)
    finally:
        await a.close()
        await b.close()
    # A node started later reads routing's memory from the table.
    c = ClusterNode(settings("c"), stores[1], "127.0.0.13:5060")
    await c.join()
    memory_c = HuntMemory()
    c.attach(FakeRegistrar(), memory_c)  # type: ignore[arg-type]
    await c.start()
    try:
        assert memory_c.last_answered[("acme", "600")] == "102"
    finally:
        await c.close()


async def test_a_missed_notification_is_caught_up_from_the_store(stores: tuple[SqlStore, SqlStore]) -> None:
    """The binding is in the table but its notification never came: the resync finds it."""
    b = ClusterNode(settings("b", resync=1), stores[1], "127.0.0.12:5060")
    await b.join()
    reg_b = FakeRegistrar()
    reg_b.table = type("T", (), {"all": lambda self, now: [], "lookup": lambda self, *a: []})()  # type: ignore[attr-defined]
    b.attach(reg_b, HuntMemory())  # type: ignore[arg-type]
    await b.start()
    try:
        phone = Binding("acme", "102", "uri:y", "<sip:102@10.0.0.8>", "sip:102@10.0.0.8", time.time() + 600,
                        time.time(), "cid2", 1, Target("UDP", "127.0.0.1", 5060), path=PATH)
        await stores[0].apply([RegistrationSaved(row_of_binding(phone))])
        await eventually(lambda: phone in reg_b.learned, timeout=5)
    finally:
        await b.close()


async def test_a_resync_keeps_this_nodes_bindings_its_store_writes_have_not_reached_yet(
        stores: tuple[SqlStore, SqlStore]) -> None:
    """The store is slow or unreachable: this node's write-behind still holds writes queued 20 s
    ago.  A binding registered since (older than the resync's 5 s margin all the same) is not in
    the store yet, and a resync must not take it for one another node removed."""
    b = ClusterNode(settings("b"), stores[1], "127.0.0.12:5060")
    now = time.time()

    def binding(ext: str, registered_at: float) -> Binding:
        return Binding("acme", ext, f"uri:{ext}", f"<sip:{ext}@10.0.0.8>", f"sip:{ext}@10.0.0.8", now + 600,
                       registered_at, f"cid{ext}", 1, Target("UDP", "127.0.0.1", 5060))

    queued, before = binding("102", now - 15), binding("103", now - 40)
    reg = FakeRegistrar()
    reg.table = SimpleNamespace(all=lambda now: [queued, before], lookup=lambda *a: [])  # type: ignore[attr-defined]
    reg.writer.unwritten_since = now - 15 + 0.00002  # type: ignore[assignment]  # its write, queued just after it was made
    b.attach(reg, HuntMemory())  # type: ignore[arg-type]
    b._reconcile([])  # the store holds neither
    assert reg.forgotten == [before]  # written long ago, and gone from the store since: removed elsewhere
    reg.forgotten.clear()
    reg.writer.unwritten_since = None  # written now, but perhaps after the store was read:
    b._reconcile([], unwritten_at_read=now - 15 + 0.00002)
    assert reg.forgotten == [before]
    reg.forgotten.clear()
    b._reconcile([], unwritten_at_read=now - 1)  # written before the read, and the store does not hold it
    assert reg.forgotten == [queued, before]


async def test_a_dead_nodes_park_slots_are_released_after_the_grace_time(stores: tuple[SqlStore, SqlStore]) -> None:
    now = time.time()
    await stores[0].claim_slot(ParkedRow("acme", 801, "call-1", now, now + 600, "101", "sip:102@x"), "a", now)
    dead = ClusterNode(settings("a"), stores[0], "127.0.0.11:5060")
    await dead.join()
    await dead.shared.beat("127.0.0.11:5060", now - 100)  # its last beat, 100 s ago
    await dead.shared.close()
    b = ClusterNode(settings("b", heartbeat=0.2, dead_after=5, park_grace=10), stores[1], "127.0.0.12:5060")
    await b.join()
    b.attach(FakeRegistrar(), HuntMemory())  # type: ignore[arg-type]
    await b.start()
    try:
        await eventually(lambda: "a" in b._released)
        assert await stores[1].list_parked() == []
        assert {n["name"] for n in await b.shared.nodes()} == {"a", "b"}
    finally:
        await b.close()


async def test_a_ban_at_one_node_holds_at_every_node_until_lifted(stores: tuple[SqlStore, SqlStore]) -> None:
    from pathlib import Path

    from softswitch.config import load_config
    from softswitch.guard import Guard

    config = load_config(Path(__file__).resolve().parents[2] / "config" / "example.yaml")
    guards = [Guard(config), Guard(config)]
    # (node b beats once a minute: a ban lifted there stays in the store until then, read at a's resyncs)
    nodes = [ClusterNode(settings(name, heartbeat=beat, dead_after=3 * beat + 10, resync=1), store, f"127.0.0.{11 + i}:5060")
             for i, (name, store, beat) in enumerate(zip("ab", stores, (0.2, 60), strict=True))]
    for node, guard in zip(nodes, guards, strict=True):
        await node.join()
        node.attach(FakeRegistrar(), HuntMemory(), None, guard)  # type: ignore[arg-type]
        await node.start()
    try:
        guesser = "192.0.2.66"
        while not guards[0].failed(guesser):  # wrong passwords at node a, up to the threshold
            pass
        await eventually(lambda: guards[1].is_banned(guesser))
        assert "banned by node a" in guards[1].listing()[0]["why"]
        # A node that starts now reads the ban from the store.
        late = ClusterNode(settings("c"), stores[1], "127.0.0.13:5060")
        await late.join()
        late_guard = Guard(config)
        late.attach(FakeRegistrar(), HuntMemory(), None, late_guard)  # type: ignore[arg-type]
        await asyncio.sleep(0.5)  # node a's beat writes its bans
        await late.start()
        try:
            assert late_guard.is_banned(guesser)
        finally:
            await late.close()
        guards[1].lift(guesser, by="a test")  # an operator at node b
        await eventually(lambda: not guards[0].is_banned(guesser))
        await asyncio.sleep(2.5)  # node a resyncs (twice at least) while the lifted ban is still in the store:
        assert guesser in [source for source, _, _ in await nodes[0].shared.load_bans(time.time())]
        assert not guards[0].is_banned(guesser)  # not imposed again
        # Node b misses the notifications for a while (PostgreSQL restarted, say): a ban node a
        # imposed meanwhile is read from the store at b's next resync.
        from sqlalchemy import text

        listener = nodes[1].shared._listener
        assert listener is not None
        async with stores[0].engine.begin() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listener.get_server_pid()})
        await eventually(lambda: nodes[1].shared._listener is None)
        scanner = "192.0.2.67"
        while not guards[0].failed(scanner):
            pass
        await eventually(lambda: guards[1].is_banned(scanner))
        assert [row["why"] for row in guards[1].listing() if row["source"] == scanner] == \
            ["failed authentications (banned by node (from the store))"]
    finally:
        for node in nodes:
            await node.close()


async def test_a_node_that_loses_its_connection_listens_again_and_catches_up(stores: tuple[SqlStore, SqlStore]) -> None:
    from sqlalchemy import text

    a = ClusterNode(settings("a", heartbeat=0.2), stores[0], "127.0.0.11:5060")
    b = ClusterNode(settings("b", heartbeat=0.2), stores[1], "127.0.0.12:5060")
    memory_a, memory_b = HuntMemory(), HuntMemory()
    for node, memory in ((a, memory_a), (b, memory_b)):
        await node.join()
        node.attach(FakeRegistrar(), memory)  # type: ignore[arg-type]
        await node.start()
    try:
        listener = b.shared._listener
        assert listener is not None
        async with stores[0].engine.begin() as conn:  # PostgreSQL restarted, say: b's backend ends
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listener.get_server_pid()})
        await eventually(lambda: b.shared._listener is None)
        memory_a.answered("acme", "600", "103")  # while b hears nothing: b reads it from the table when back
        await eventually(lambda: memory_b.last_answered.get(("acme", "600")) == "103")
        memory_a.answered("acme", "600", "102")  # and hears the next ones again
        await eventually(lambda: memory_b.last_answered.get(("acme", "600")) == "102")
        # What b had to tell while cut off goes out once it is back, not at its next change.
        listener = b.shared._listener
        assert listener is not None
        async with stores[0].engine.begin() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listener.get_server_pid()})
        await eventually(lambda: b.shared._listener is None)
        memory_b.answered("acme", "601", "104")
        await eventually(lambda: b.shared._listener is not None)
        await eventually(lambda: memory_a.last_answered.get(("acme", "601")) == "104", timeout=3)
    finally:
        await a.close()
        await b.close()
