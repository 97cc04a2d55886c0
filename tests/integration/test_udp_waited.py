"""The UDP listener measures how long each datagram waited in the kernel before the switch read
it (the kernel's arrival stamp, SIOCGSTAMP): what the load shedding decides from, over an
interval and for each datagram (a new INVITE is refused when it waited too long).  A real
socket on 127.0.0.1; the loop is stalled on purpose while a datagram arrives."""

from __future__ import annotations

import asyncio
import socket
import time

from softswitch.sip.transport.udp import UdpListener


async def test_a_datagram_that_arrived_during_a_stall_is_measured_as_waiting() -> None:
    loop = asyncio.get_running_loop()
    got = asyncio.Event()
    waits: list[float | None] = []

    def received(_data: bytes, _addr: tuple[str, int], _listener: int, waited: float | None) -> None:
        waits.append(waited)
        got.set()

    transport, listener = await loop.create_datagram_endpoint(
        lambda: UdpListener(0, received), local_addr=("127.0.0.1", 0))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            # The kernel turns arrival stamping on in deferred work (net_enable_timestamp) when the
            # first socket asks: until then a datagram is stamped when read.  Wait for it to be on:
            # a datagram held up 20 ms is seen to have waited (bounded: 5 s).
            deadline = time.monotonic() + 5
            while True:
                got.clear()
                peer.sendto(b"OPTIONS probe", listener.local)
                time.sleep(0.02)
                async with asyncio.timeout(5):
                    await got.wait()
                if listener.take_waited() >= 0.02:
                    break
                assert time.monotonic() < deadline, "the kernel never stamped an arrival"
            got.clear()
            peer.sendto(b"OPTIONS 1", listener.local)  # read at once: it waited next to nothing
            async with asyncio.timeout(5):
                await got.wait()
            quick = listener.take_waited()
            got.clear()
            peer.sendto(b"OPTIONS 2", listener.local)
            time.sleep(0.3)  # the loop is busy elsewhere: the datagram waits in the kernel
            async with asyncio.timeout(5):
                await got.wait()
            stalled = listener.take_waited()
        assert 0.0 <= quick < 0.25, quick  # bounded by the busiest machine's scheduling, not by the stall
        assert 0.3 <= stalled < 5.0, stalled
        assert waits[-2:] == [quick, stalled]  # each datagram's own wait, handed over with it
        assert listener.take_waited() == 0.0  # taken: the next interval starts from nothing
    finally:
        transport.close()
