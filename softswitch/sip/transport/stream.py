"""TCP and TLS connections (RFC 3261 §18, RFC 5626 §3.5.1 keep-alives).

Each connection frames its bytes with ``StreamFramer`` and hands whole
messages to the endpoint.  A framing error closes the connection (the stream
cannot be resynchronised); a double-CRLF ping is answered with a CRLF pong.
Connections that stay idle, or that hold part of a message for too long, are
closed by ``sweep``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from ..errors import RemoteProtocolError
from ..framing import Frame, Ping, StreamFramer

log = logging.getLogger(__name__)

_ids = itertools.count(1_000_000)  # UDP listeners use small ids; connections start above


class StreamConnection(asyncio.Protocol):
    message_framed = False  # each message arrives whole (WebSocket), not cut from a byte stream

    def __init__(self, transport_name: str, pool: ConnectionPool) -> None:
        self.name = transport_name
        self.pool = pool
        self.conn_id = next(_ids)
        self.framer = StreamFramer(pool.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.last_activity = 0.0
        self.pending_since: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer: Any = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self.last_activity = self.pool.loop.time()
        if self.pool.refuse(self.peer[0]):  # banned: not a descriptor, nor a byte framed, for it
            self.pool.counters["refused"] += 1
            transport.close()
            return
        self.pool.add(self)

    def data_received(self, data: bytes) -> None:
        now = self.pool.loop.time()
        self.last_activity = now
        try:
            events = self.framer.feed(data)
        except RemoteProtocolError as exc:
            log.info("x %s %s:%s framing error, closing: %s", self.name, *self.peer, exc.reason)
            self.pool.counters["framing_errors"] += 1
            self.close()
            return
        for event in events:
            if isinstance(event, Ping):
                self.write(b"\r\n")
            elif isinstance(event, Frame):
                self.pool.on_message(event.data, self)
        # A part of a message waiting counts from when the last whole one came out: a busy
        # connection read mid-message every time is not stuck.
        self.pending_since = ((now if events else self.pending_since or now) if self.framer.pending else None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.remove(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ConnectionPool:
    """Live connections by id, for sending later requests over a client's own connection."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_message: Callable[[bytes, StreamConnection], None],
        on_closed: Callable[[StreamConnection], None], *, idle_timeout: float, max_message_size: int,
        incomplete_timeout: float = 32.0, refuse: Callable[[str], bool] = lambda host: False,
    ) -> None:
        self.loop = loop
        self.refuse = refuse
        self.on_message = on_message
        self.on_closed = on_closed
        self.idle_timeout = idle_timeout
        self.incomplete_timeout = incomplete_timeout
        self.max_message_size = max_message_size
        self.connections: dict[int, StreamConnection] = {}
        self.counters = {"framing_errors": 0, "idle_closed": 0, "opened": 0, "refused": 0}

    def add(self, conn: StreamConnection) -> None:
        self.connections[conn.conn_id] = conn
        self.counters["opened"] += 1

    def remove(self, conn: StreamConnection) -> None:
        if self.connections.pop(conn.conn_id, None) is not None:
            self.on_closed(conn)

    def get(self, conn_id: int | None) -> StreamConnection | None:
        return None if conn_id is None else self.connections.get(conn_id)

    def sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections.values()):
            stuck = conn.pending_since is not None and now - conn.pending_since > self.incomplete_timeout
            if stuck or now - conn.last_activity > self.idle_timeout:
                log.info("x %s %s:%s closed: %s", conn.name, *conn.peer, "incomplete message" if stuck else "idle")
                self.counters["idle_closed"] += 1
                conn.close()

    def close_all(self) -> None:
        for conn in list(self.connections.values()):
            conn.close()
