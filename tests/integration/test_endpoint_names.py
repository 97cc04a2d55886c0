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


async def test_an_old_address_is_used_while_the_name_is_looked_up_again_and_kept_if_that_fails(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from softswitch.sip.transport import endpoint as endpoint_module

    ep, _, peer, _ = stack
    loop = asyncio.get_running_loop()
    real, asked = loop.getaddrinfo, []

    async def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        if len(asked) > 1:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return await real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", resolver)
    monkeypatch.setattr(endpoint_module, "NAME_TTL", 0.0)  # old at once
    target = Target("UDP", "trunk.example.net", peer.port)
    ep._send(target, b"one")
    async with asyncio.timeout(WAIT):
        assert await peer.queue.get() == b"one"
    ep._send(target, b"two")  # sent to the last address found, looked up again behind it
    async with asyncio.timeout(WAIT):
        assert await peer.queue.get() == b"two"
        while ep._resolving:
            await asyncio.sleep(0.01)
    ep._send(target, b"three")  # the look-up failed: the address found before still serves
    async with asyncio.timeout(WAIT):
        assert await peer.queue.get() == b"three"
    assert len(asked) >= 2


async def test_an_address_in_brackets_is_sent_to_without_a_look_up(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """As a URI writes an IPv6 address (``[2001:db8::1]``): the brackets are no part of it."""
    ep, _, peer, _ = stack

    async def no_lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"looked up {host}")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_lookup)
    ep._send(Target("UDP", "[127.0.0.1]", peer.port), b"bracketed")
    async with asyncio.timeout(WAIT):
        assert await peer.queue.get() == b"bracketed"
    assert ep._literal("2001:db8::1") and not ep._literal("trunk.example.net")
