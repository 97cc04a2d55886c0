"""Trunk host names resolved off the loop (hosts.py): a name that cannot be resolved, or is no
name at all, is told and keeps the last address; the others are resolved all the same."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from softswitch.hosts import HostCache


async def test_a_bad_name_does_not_stop_the_others_being_resolved(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()

    asked: list[str] = []

    async def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        if host == "sip..example.com":
            raise UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)")
        if host == "down.example.com":
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("192.0.2.10", 0))]

    monkeypatch.setattr(loop, "getaddrinfo", resolver)
    hosts = HostCache(loop, ttl=0.01)
    await hosts.use(["sip..example.com", "down.example.com", "trunk.example.com", "198.51.100.7"])
    try:
        assert hosts.address("trunk.example.com") == "192.0.2.10"
        assert hosts.address("sip..example.com") == "sip..example.com"  # never resolved: the name
        assert hosts.address("198.51.100.7") == "198.51.100.7"
        assert any("cannot resolve trunk host sip..example.com" in r.getMessage() for r in caplog.records)
        async with asyncio.timeout(5):
            while asked.count("trunk.example.com") < 3:  # refreshed twice since, the bad name each time too
                await asyncio.sleep(0.01)
        assert asked.count("sip..example.com") >= 3 and hosts._task is not None and not hosts._task.done()
    finally:
        await hosts.close()
