"""UDP listener (RFC 3261 §18): one datagram is one message."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# One socket takes every phone's requests: a burst (phones re-registering after a power cut,
# a busy hour) must wait in the kernel, not be dropped, while the loop is busy.  The kernel
# caps this at net.core.rmem_max / wmem_max.
SOCKET_BUFFER = 4 * 1024 * 1024


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, listener_id: int, on_datagram: Callable[[bytes, tuple[str, int], int], None]) -> None:
        self.listener_id = listener_id
        self._on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sockname: Any = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])
        sock = transport.get_extra_info("socket")
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
            except OSError as exc:  # pragma: no cover - not seen on Linux
                log.warning("udp %s: cannot enlarge socket buffer: %s", self.local, exc)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._on_datagram(data, (addr[0], addr[1]), self.listener_id)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp %s: %s", self.local, exc)

    def send(self, data: bytes, host: str, port: int) -> None:
        if self.transport is not None:
            self.transport.sendto(data, (host, port))
