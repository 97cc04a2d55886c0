"""UDP listener (RFC 3261 §18): one datagram is one message."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
import time
from collections.abc import Callable
from fcntl import ioctl
from typing import Any

log = logging.getLogger(__name__)

# One socket takes every phone's requests: a burst (phones re-registering after a power cut,
# a busy hour) waits in the kernel while the loop is busy rather than being dropped.  The
# buffer is bounded (``transport.udp_receive_buffer``; the kernel doubles it, and caps it at
# net.core.rmem_max), and what it holds is measured (``backlog``) so that new calls are shed
# before the queue makes every request wait: an answer seconds late is worse than a 503 now.
SOCKET_BUFFER = 4 * 1024 * 1024
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)  # Linux: rmem_alloc, rcvbuf, ..., drops (u32 each)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux: past net.core.rmem_max, with CAP_NET_ADMIN
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SIOCGSTAMP = 0x8906  # Linux: when the datagram last read reached the socket (a struct timeval, wall clock)
_TIMEVAL = struct.Struct("@ll")
_NO_TIMEVAL = bytes(_TIMEVAL.size)


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, listener_id: int, on_datagram: Callable[[bytes, tuple[str, int], int, float | None], None]) -> None:
        self.listener_id = listener_id
        self._on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("", 0)
        self.received_bytes = 0  # handed to the switch so far: the drain rate of the queue
        self.waited = 0.0  # the longest a datagram read since ``take_waited`` had waited in the kernel (seconds)
        self._fd = -1  # for the kernel's arrival stamps; -1: not available
        self._short_told = 0  # the receive buffer size last found short of what was asked, and told

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sockname: Any = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno()
        try:
            _set_buffer(sock, socket.SO_SNDBUF, SO_SNDBUFFORCE, SOCKET_BUFFER)
        except OSError as exc:  # pragma: no cover - not seen on Linux
            log.warning("udp %s: cannot enlarge the send buffer: %s", self.local, exc)

    def size_receive_buffer(self, size: int) -> None:
        """Bound the kernel's queue of datagrams not yet read (the kernel doubles ``size``).
        Past net.core.rmem_max (212,992 on a fresh Debian) only with CAP_NET_ADMIN (root):
        without it the kernel gives at most twice rmem_max, and that is told once per size."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return
        try:
            got = _set_buffer(sock, socket.SO_RCVBUF, SO_RCVBUFFORCE, size)
        except OSError as exc:  # pragma: no cover - not seen on Linux
            log.warning("udp %s: cannot size the receive buffer: %s", self.local, exc)
            return
        if got < 2 * size and self._short_told != size:
            self._short_told = size
            log.warning("udp %s:%d: the kernel's receive buffer is %d bytes, not the %d transport.udp_receive_buffer "
                        "asks (doubled): net.core.rmem_max is %s; raise it (sysctl -w net.core.rmem_max=%d) or give "
                        "the switch CAP_NET_ADMIN", *self.local, got, 2 * size, _rmem_max(), size)

    def backlog(self) -> tuple[int, int]:
        """Bytes waiting in the kernel to be read, and datagrams the kernel dropped because the
        buffer was full (both 0 where the kernel does not say)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return 0, 0
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 64)
        except OSError:
            return 0, 0
        fields = struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4])
        return fields[0], (fields[8] if len(fields) > 8 else 0)

    def take_waited(self) -> float:
        """The longest wait in the kernel of the datagrams read since the last call (seconds)."""
        waited, self.waited = self.waited, 0.0
        return waited

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received_bytes += len(data)
        waited: float | None = None  # not known
        if self._fd >= 0:  # how long it waited: what a request arriving now would wait, measured
            try:
                sec, usec = _TIMEVAL.unpack(ioctl(self._fd, SIOCGSTAMP, _NO_TIMEVAL))
            except OSError as exc:  # ENOENT: none yet (the first call turns stamping on); else not asked again
                if exc.errno != errno.ENOENT:
                    self._fd = -1
            else:
                waited = max(0.0, time.time() - sec - usec * 1e-6)
                if waited > self.waited:
                    self.waited = waited
        self._on_datagram(data, (addr[0], addr[1]), self.listener_id, waited)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp %s: %s", self.local, exc)

    def send(self, data: bytes, host: str, port: int) -> None:
        if self.transport is not None:
            self.transport.sendto(data, (host, port))


def _set_buffer(sock: socket.socket, option: int, force: int, size: int) -> int:
    """Ask for a socket buffer of ``size`` bytes: past the kernel's cap where the process may
    (``force``), else up to it.  What the kernel gave (twice what it granted)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:  # not allowed (no CAP_NET_ADMIN), or not known to this kernel
        sock.setsockopt(socket.SOL_SOCKET, option, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, option))


def _rmem_max() -> str:
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            return f.read().strip()
    except OSError:
        return "unknown"
