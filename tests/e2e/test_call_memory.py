"""Ended calls are freed at once, by reference counting, not by the cycle collector.

Transactions outlive their call by up to 32 s (RFC 6026 Timers L and M). If they held the call,
a switch at a few hundred calls a second would carry thousands of dead calls, and the
collector's passes over them stop the event loop for hundreds of milliseconds (seen in
``scripts/bench_calls`` as a p99 setup time of 0.3 s at 300 calls/s). The switch runs in this
process here, with the collector off, so that whatever is still alive is held by something.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from softswitch.app import App
from softswitch.config import load_config
from softswitch.sip.transaction import ClientTransaction, InviteServerTransaction

from .harness import Switch, base_config, free_port


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[App, Switch]]:
    sw = Switch(tmp_path)
    cfg = base_config(sw.port, tmp_path / "switch.db", admin={"socket": str(tmp_path / "softswitch.sock")})
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    app = App(load_config(sw.config_path), str(sw.config_path))
    await app.start()
    try:
        yield app, sw
    finally:
        await app.stop()


async def finished(proc: subprocess.Popen[str], timeout: float = 40) -> str:
    """Wait for a SIPp run without blocking the loop the switch runs on."""
    for _ in range(int(timeout * 20)):
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            assert proc.returncode == 0, out[-2500:]
            return out
        await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("SIPp did not finish")


async def test_an_ended_call_is_freed_while_its_transactions_linger(app: tuple[App, Switch]) -> None:
    switch, sw = app
    assert switch.calls is not None
    callee_sip = free_port()
    await finished(sw.sipp("register_auth.xml", users=[("102", "acme-102-secret")], domain="acme.example",
                           local_port=callee_sip, background=True))  # type: ignore[arg-type]
    gc.collect()
    gc.disable()
    try:
        callee = sw.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=callee_sip,
                         background=True, timeout=30)
        await asyncio.sleep(0.3)
        caller = sw.sipp("call_caller.xml", "-d", "500", "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                         "-mp", str(free_port()), users=[("101", "-")], domain="acme.example", background=True, timeout=30)
        seen: list[weakref.ref[object]] = []
        for _ in range(400):
            if switch.calls.calls:
                seen = [weakref.ref(call) for call in switch.calls.calls.values()]
                break
            await asyncio.sleep(0.01)
        assert seen, "the call never started"
        await finished(caller)  # type: ignore[arg-type]
        await finished(callee)  # type: ignore[arg-type]
        for _ in range(100):
            if not switch.calls.calls:
                break
            await asyncio.sleep(0.05)
        assert switch.calls.counters["answered"] == 1 and not switch.calls.calls

        # The call's transactions are still there (Timers L, M, J, K) ...
        layer = switch.endpoint.layer  # type: ignore[union-attr]
        assert any(isinstance(tx, InviteServerTransaction) for tx in layer.server.values())
        assert any(isinstance(tx, ClientTransaction) for tx in layer.client.values())
        # ... holding bytes, not parsed requests, and not the call ...
        assert all(tx.request is None for tx in layer.client.values())
        # ... which reference counting alone has freed.
        assert [ref for ref in seen if ref() is not None] == []
    finally:
        gc.enable()
