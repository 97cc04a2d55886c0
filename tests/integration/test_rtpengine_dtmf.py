"""rtpengine's DTMF log is taken only from rtpengine's own address, which the config may give
as a name (``media.rtpengine: udp:localhost:2223``): the keys must still reach their calls.
A stand-in for rtpengine's control port answers ``ping``; real sockets on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from softswitch.media.ng import decode, encode
from softswitch.media.rtpengine import EngineCall, RtpEngine
from softswitch.sdp.offer_answer import RelayPorts


class Pong(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        cookie, _, body = data.partition(b" ")
        command = decode(body)[b"command"]  # type: ignore[index]
        self.transport.sendto(cookie + b" " + encode({"result": "pong" if command == b"ping" else "ok"}), addr)


async def test_keys_from_rtpengine_named_by_a_host_name_reach_their_call() -> None:
    loop = asyncio.get_running_loop()
    family, _, _, _, sockaddr = socket.getaddrinfo("localhost", 0, type=socket.SOCK_DGRAM)[0]
    address = str(sockaddr[0])  # what "localhost" resolves to first here: rtpengine's address
    control, _ = await loop.create_datagram_endpoint(Pong, local_addr=(address, 0))
    engine = RtpEngine("localhost", control.get_extra_info("sockname")[1], dtmf=(address, 0))
    heard: list[tuple[str, str, str]] = []
    got = asyncio.Event()
    engine.on_digit = lambda *key: (heard.append(key), got.set())
    try:
        await engine.start()
        engine.calls["c1"] = EngineCall("c1", address, {"a": RelayPorts(1, 2), "b": RelayPorts(3, 4)})
        assert engine._dtmf_transport is not None
        log_port = engine._dtmf_transport.get_extra_info("sockname")[1]
        with socket.socket(family, socket.SOCK_DGRAM) as rtpengine:
            rtpengine.bind((address, 0))  # from rtpengine's host, as its DTMF log sends
            rtpengine.sendto(json.dumps({"callid": "c1", "source_tag": "a", "event": 7}).encode(), (address, log_port))
            async with asyncio.timeout(5):
                await got.wait()
        assert heard == [("c1", "a", "7")]
    finally:
        await engine.stop()
        control.close()
