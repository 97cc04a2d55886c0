"""A party's RTP socket connected to its latched phone (media/endpoint.py): relayed as before
both ways, read without an address only once nothing queued before the connect is left,
released as soon as the relay's latch moves (a new SDP address, a party gone, a browser on the
leg) or the phone went silent, so that a phone that moved is heard and latched anew.  Real
sockets on 127.0.0.1; the sweep's step (``_settle``) is driven by the test."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from softswitch.media.endpoint import MediaEndpoint, MediaSession
from softswitch.media.ports import PortPool


def phone() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def rtp(seq: int, tag: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 1234) + tag * 160


async def heard(sock: socket.socket, tag: bytes, seconds: float = 2.0) -> bool:
    """Whether a packet carrying ``tag`` reaches ``sock`` within ``seconds`` (others are skipped)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            if sock.recv(2048)[12:13] == tag:
                return True
        except BlockingIOError:
            await asyncio.sleep(0.005)
    return False


async def relays(sender: socket.socket, port: int, listener: socket.socket, tag: bytes, seq: int) -> bool:
    sender.sendto(rtp(seq, tag), ("127.0.0.1", port))
    return await heard(listener, tag)


@pytest.fixture
async def call() -> AsyncIterator[tuple[MediaEndpoint, MediaSession, socket.socket, socket.socket]]:
    media = MediaEndpoint("127.0.0.1", PortPool(31000, 31100))
    a, b = phone(), phone()
    session = media.open("call")
    media.set_announced("call", "a", a.getsockname())
    media.set_announced("call", "b", b.getsockname())
    try:
        yield media, session, a, b
    finally:
        media.shutdown()
        a.close()
        b.close()


async def test_connected_legs_relay_both_ways_and_a_stray_is_not_heard(call: tuple[MediaEndpoint, MediaSession, socket.socket, socket.socket]) -> None:
    media, session, a, b = call
    loop = asyncio.get_running_loop()
    assert await relays(a, session.ports["a"], b, b"A", 1) and await relays(b, session.ports["b"], a, b"B", 1)
    media._settle(session, loop.time())
    assert session.connected == {"a": a.getsockname(), "b": b.getsockname()} and not session.trusted
    assert await relays(a, session.ports["a"], b, b"C", 2) and await relays(b, session.ports["b"], a, b"D", 2)
    media._settle(session, loop.time())
    assert session.trusted == {"a", "b"}
    stray = phone()
    try:
        stray.sendto(rtp(9, b"X"), ("127.0.0.1", session.ports["a"]))  # nobody injects audio into the call
        assert not await heard(b, b"X", 0.3)
    finally:
        stray.close()
    for seq in range(3, 8):
        assert await relays(a, session.ports["a"], b, bytes([seq]), seq) and await relays(b, session.ports["b"], a, bytes([seq]), seq)
    legs = session.relay.legs
    assert legs["a"].received.packets == 7 and legs["b"].received.packets == 7 and legs["a"].received.lost == 0
    assert legs["a"].sent_packets == 7 and legs["b"].sent_packets == 7


async def test_a_new_address_releases_the_leg_at_once_and_its_new_phone_is_heard(call: tuple[MediaEndpoint, MediaSession, socket.socket, socket.socket]) -> None:
    media, session, a, b = call
    loop = asyncio.get_running_loop()
    assert await relays(a, session.ports["a"], b, b"A", 1) and await relays(b, session.ports["b"], a, b"B", 1)
    media._settle(session, loop.time())
    media._settle(session, loop.time())
    assert session.trusted == {"a", "b"}
    transferee = phone()  # a transfer puts another phone on leg a: its SDP names it
    try:
        media.set_announced("call", "a", transferee.getsockname())
        assert "a" not in session.connected and "a" not in session.trusted and "b" in session.trusted
        assert await relays(transferee, session.ports["a"], b, b"T", 50)
        assert await relays(b, session.ports["b"], transferee, b"U", 2)
        media._settle(session, loop.time())
        assert session.connected["a"] == transferee.getsockname()
    finally:
        transferee.close()
    media.detach("call", "a")  # the party left (a parker): nothing connected there
    assert "a" not in session.connected


async def test_a_silent_phone_is_released_so_that_a_phone_that_moved_is_latched(call: tuple[MediaEndpoint, MediaSession, socket.socket, socket.socket]) -> None:
    media, session, a, b = call
    loop = asyncio.get_running_loop()
    session.relay.relatch_after = 0.2
    assert await relays(a, session.ports["a"], b, b"A", 1) and await relays(b, session.ports["b"], a, b"B", 1)
    media._settle(session, loop.time())
    media._settle(session, loop.time())
    assert session.trusted == {"a", "b"}
    await asyncio.sleep(0.3)  # b goes quiet (its NAT binding changes meanwhile); a keeps talking
    assert await relays(a, session.ports["a"], b, b"C", 2)
    media._settle(session, loop.time())
    assert set(session.connected) == {"a"}
    moved = phone()
    try:
        assert await relays(moved, session.ports["b"], a, b"M", 2)  # b's phone from its new address
        assert await relays(a, session.ports["a"], moved, b"N", 3)
        assert session.relay.legs["b"].latched == moved.getsockname()
    finally:
        moved.close()


async def test_a_browser_on_the_leg_releases_it(call: tuple[MediaEndpoint, MediaSession, socket.socket, socket.socket]) -> None:
    media, session, a, b = call
    loop = asyncio.get_running_loop()
    assert await relays(a, session.ports["a"], b, b"A", 1)
    media._settle(session, loop.time())
    assert "a" in session.connected
    assert media.webrtc("call", "a", None) is not None
    assert "a" not in session.connected
    media._settle(session, loop.time())
    assert "a" not in session.connected  # a browser's leg stays unconnected: ICE may move it


async def test_sockets_on_the_wildcard_address_are_never_connected() -> None:
    """connect(2) would pin such a socket's local address to the route's choice, perhaps not
    the address the SDP gave: it keeps hearing every address it is bound to."""
    media = MediaEndpoint("0.0.0.0", PortPool(31100, 31200))
    a, b = phone(), phone()
    try:
        session = media.open("call")
        media.set_announced("call", "a", a.getsockname())
        media.set_announced("call", "b", b.getsockname())
        assert await relays(a, session.ports["a"], b, b"A", 1) and await relays(b, session.ports["b"], a, b"B", 1)
        media._settle(session, asyncio.get_running_loop().time())
        assert session.connected == {} and await relays(a, session.ports["a"], b, b"C", 2)
    finally:
        media.shutdown()
        a.close()
        b.close()
