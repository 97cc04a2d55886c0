"""A datagram for a host name (a trunk whose name was not resolved yet) is sent once the name is
looked up off the loop: ``sendto`` with a name would call the resolver on the loop and stall every
call for as long as a DNS server takes to answer.  Real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from softswitch.sip.transaction import Target

from .test_endpoint_errors import WAIT, Stack, stack  # noqa: F401  (the fixture)


async def test_a_name_is_looked_up_off_the_loop_and_its_datagrams_wait_for_it(stack: Stack,  # noqa: F811
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ep, _, peer, _ = stack
    loop = asyncio.get_running_loop()
    real, asked = loop.getaddrinfo, []
    release = asyncio.Event()

    async def slow(host: str, *args: Any, **kwargs: Any) -> Any:  # a resolver that takes its time
        asked.append(host)
        await release.wait()
        return await real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", slow)
    ep._send(Target("UDP", "trunk.example.net", peer.port), b"first")
    ep._send(Target("UDP", "trunk.example.net", peer.port), b"second")  # waits for the same look-up
    ep._send(Target("UDP", "127.0.0.1", peer.port), b"meanwhile")  # the loop is not held up
    async with asyncio.timeout(WAIT):
        assert await peer.queue.get() == b"meanwhile"
    release.set()
    async with asyncio.timeout(WAIT):
        assert [await peer.queue.get(), await peer.queue.get()] == [b"first", b"second"]
    assert asked == ["trunk.example.net"]
    ep._send(Target("UDP", "trunk.example.net", peer.port), b"third")  # the address is kept: no look-up
    async with asyncio.timeout(WAIT):
        assert await peer.queue.get() == b"third"
    assert asked == ["trunk.example.net"]


async def test_a_name_that_does_not_resolve_is_a_counted_failure(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    ep, _, peer, _ = stack
    loop = asyncio.get_running_loop()

    async def failing(host: str, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(loop, "getaddrinfo", failing)
    before = ep.counters["send_failed"]
    ep._send(Target("UDP", "nowhere.invalid", peer.port), b"lost")
    ep._send(Target("UDP", "nowhere.invalid", peer.port), b"lost too")
    async with asyncio.timeout(WAIT):
        while ep.counters["send_failed"] < before + 2:
            await asyncio.sleep(0.01)
    assert not ep._resolving
