"""TCP and TLS connections (RFC 3261 §18, RFC 5626 §3.5.1 keep-alives).

Each connection frames its bytes with ``StreamFramer`` and hands whole
messages to the endpoint.  A framing error closes the connection (the stream
cannot be resynchronised); a double-CRLF ping is answered with a CRLF pong.
Connections that stay idle, or that hold part of a message for too long, are
closed by ``sweep``; so is one that has carried no authenticated request (a registration, a
call, a subscription: the registrar ``vouch``es for it) some time after it opened, unless its
address is trusted or the switch opened it.  A new connection past the caps (in all, and per
address unless trusted) is closed as soon as it is accepted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from ..errors import RemoteProtocolError
from ..framing import Frame, Ping, StreamFramer, TooLarge

log = logging.getLogger(__name__)

_ids = itertools.count(1_000_000)  # UDP listeners use small ids; connections start above
REFUSALS_LOGGED = 60.0  # seconds between log lines about connections refused for a cap
LINGER = 2.0  # seconds a connection answered 513 stays open, reading nothing, before it is closed


class StreamConnection(asyncio.Protocol):
    message_framed = False  # each message arrives whole (WebSocket), not cut from a byte stream

    def __init__(self, transport_name: str, pool: ConnectionPool, *, outbound: bool = False) -> None:
        self.name = transport_name
        self.pool = pool
        self.conn_id = next(_ids)
        self.framer = StreamFramer(pool.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.source = ""  # what its address counts as for the per-source cap (ConnectionPool.source_of)
        self.opened = self.last_activity = 0.0
        self.pending_since: float | None = None
        self.outbound = outbound  # the switch opened it (to a trunk): not screened, not capped
        self.vouched = outbound  # it carried an authenticated request (or needs none): kept past auth_timeout
        self.draining = False  # answered 513: what still arrives is dropped until it is closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer: Any = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self.opened = self.last_activity = self.pool.loop.time()
        if not self.outbound:
            if self.pool.refuse(self.peer[0]):  # banned: not a descriptor, nor a byte framed, for it
                self.pool.counters["refused"] += 1
                transport.close()
                return
            if not self.pool.has_room(self.peer[0]):
                transport.close()
                return
        self.pool.add(self)

    def data_received(self, data: bytes) -> None:
        if self.draining:
            return
        now = self.pool.loop.time()
        self.last_activity = now
        try:
            events = self.framer.feed(data)
        except RemoteProtocolError as exc:
            log.info("x %s %s:%s framing error, closing: %s", self.name, *self.peer, exc.reason)
            self.pool.counters["framing_errors"] += 1
            if isinstance(exc, TooLarge):  # answered; what follows is read and dropped for a moment, so that
                # the close does not reset the connection under the answer (unread bytes make a RST)
                self.pool.on_too_large(exc.head, exc.size, self)
                self.draining = True
                self.pool.loop.call_later(LINGER, self.abort)
                return
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

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


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
        self.on_too_large: Callable[[bytes, int, StreamConnection], None] = lambda head, size, conn: None
        self.idle_timeout = idle_timeout
        self.incomplete_timeout = incomplete_timeout
        self.max_message_size = max_message_size
        self.connections: dict[int, StreamConnection] = {}
        self.per_source: dict[str, int] = {}  # address -> its connections open
        self.by_peer: dict[tuple[str, str, int], list[StreamConnection]] = {}  # (transport, host, port) -> its connections
        self.max_connections = 4096
        self.max_per_source = 100
        self.auth_timeout: float | None = None  # seconds a connection has to carry an authenticated request
        self.exempt: Callable[[str], bool] = lambda host: False  # trusted: no per-source cap, no auth_timeout
        self.source_of: Callable[[str], str] = lambda host: host  # what an address counts as (an IPv6 one: its network)
        self.counters = {"framing_errors": 0, "idle_closed": 0, "opened": 0, "refused": 0, "refused_full": 0,
                         "refused_per_source": 0, "unauthenticated_closed": 0}
        self._told: dict[str, tuple[float, int]] = {}  # counter -> when its refusals were last logged, how many since

    def set_limits(self, total: int, per_source: int, exempt: Callable[[str], bool], auth_timeout: float | None,
                   source_of: Callable[[str], str]) -> None:
        """At most ``total`` connections open, ``per_source`` from one source (``source_of`` an
        address: an IPv6 address's network) unless ``exempt``; one that has carried no
        authenticated request ``auth_timeout`` seconds after it opened is closed at the next
        sweep (None: never), unless ``exempt``."""
        self.max_connections, self.max_per_source, self.exempt = total, per_source, exempt
        self.auth_timeout, self.source_of = auth_timeout, source_of

    def vouch(self, conn_id: int | None) -> None:
        """A request on this connection was authenticated: it stays as long as it is used."""
        conn = self.get(conn_id)
        if conn is not None:
            conn.vouched = True

    def has_room(self, host: str) -> bool:
        """Whether a new connection from ``host`` fits under the caps; a refusal is counted, and
        logged at most once a minute for each cap (with how many were refused since)."""
        exempt = self.exempt(host)
        if len(self.connections) >= self.max_connections - (0 if exempt else self.max_connections // 10):
            # (the last tenth is kept for trusted addresses and trunks: a flood from many
            # addresses does not shut an office or a provider out)
            self._refused("refused_full", f"{len(self.connections)} connections are open (transport.max_connections "
                          f"{self.max_connections}, the last tenth for trusted addresses)", host)
            return False
        if not exempt and self.per_source.get(self.source_of(host), 0) >= self.max_per_source:
            self._refused("refused_per_source", f"{self.max_per_source} connections from one address are open "
                          "(transport.max_connections_per_source)", host)
            return False
        return True

    def _refused(self, counter: str, why: str, host: str) -> None:
        self.counters[counter] += 1
        now = self.loop.time()
        last, since = self._told.get(counter, (-REFUSALS_LOGGED, 0))
        if now - last < REFUSALS_LOGGED:
            self._told[counter] = (last, since + 1)
            return
        self._told[counter] = (now, 0)
        more = f"; {since} more refused since the last such line" if since else ""
        log.warning("x connection from %s closed at once: %s%s", host, why, more)

    def add(self, conn: StreamConnection) -> None:
        self.connections[conn.conn_id] = conn
        self.by_peer.setdefault((conn.name, *conn.peer), []).append(conn)
        source = conn.source = self.source_of(conn.peer[0])
        self.per_source[source] = self.per_source.get(source, 0) + 1
        self.counters["opened"] += 1

    def remove(self, conn: StreamConnection) -> None:
        if self.connections.pop(conn.conn_id, None) is not None:
            same = self.by_peer.get(key := (conn.name, *conn.peer), [])
            if conn in same:
                same.remove(conn)
            if not same:
                self.by_peer.pop(key, None)
            source = conn.source  # (as counted when it opened, whatever a reload changed since)
            left = self.per_source.get(source, 1) - 1
            if left > 0:
                self.per_source[source] = left
            else:
                self.per_source.pop(source, None)
            self.on_closed(conn)

    def get(self, conn_id: int | None) -> StreamConnection | None:
        return None if conn_id is None else self.connections.get(conn_id)

    def to_peer(self, transport: str, host: str, port: int) -> StreamConnection | None:
        """The newest connection open with that peer on that transport."""
        same = self.by_peer.get((transport, host, port))
        return same[-1] if same else None

    def sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections.values()):
            stuck = conn.pending_since is not None and now - conn.pending_since > self.incomplete_timeout
            # (aborted, not closed: a close waits for what is queued to the peer to be sent, for
            # ever if the peer does not read, and the connection would hold its place meanwhile)
            if stuck or now - conn.last_activity > self.idle_timeout:
                log.info("x %s %s:%s closed: %s", conn.name, *conn.peer, "incomplete message" if stuck else "idle")
                self.counters["idle_closed"] += 1
                conn.abort()
            elif not conn.vouched and self.auth_timeout is not None and now - conn.opened > self.auth_timeout \
                    and not self.exempt(conn.peer[0]):  # (trust now: a trunk's name may resolve later, a reload add a network)
                self.counters["unauthenticated_closed"] += 1
                log.info("x %s %s:%s closed: no authenticated request in %g s (transport.tcp_auth_timeout)",
                         conn.name, *conn.peer, self.auth_timeout)
                conn.abort()

    def close_all(self) -> None:
        for conn in list(self.connections.values()):
            conn.close()
