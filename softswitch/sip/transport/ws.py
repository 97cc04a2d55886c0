"""SIP over WebSocket (RFC 7118): the transport of browser phones.

A connection starts as an HTTP request to upgrade (RFC 6455 §4), which must offer the ``sip``
subprotocol (RFC 7118 §4.1: the switch answers with it, and refuses a handshake without it
with ``400``).  After that each WebSocket message carries exactly one SIP message (§5): no
stream framing, no Content-Length needed.  What the switch sends goes in a text message when
it is UTF-8 (every message the switch makes) and in a binary one otherwise (§5.1).  A
message larger than the endpoint's maximum closes the connection with ``1009``; a protocol
error closes it with what ``wsproto`` (the RFC 6455 state machine) says.  Ping frames are
answered with pongs.

The connection is otherwise a stream connection like TCP's: the same pool, the same ids
(a browser's requests and the responses to them, and later requests to a registered browser,
go over the connection it opened: §5.2, RFC 5626), the same idle sweep.  The switch never
opens a WebSocket connection itself.
"""

from __future__ import annotations

import logging

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, RejectConnection, Request, TextMessage
from wsproto.utilities import RemoteProtocolError as WsProtocolError

from .stream import ConnectionPool, StreamConnection

log = logging.getLogger(__name__)

SUBPROTOCOL = "sip"
MESSAGE_TOO_BIG = 1009  # RFC 6455 §7.4.1


class WsConnection(StreamConnection):
    """One WebSocket connection (``WS``, or ``WSS`` over TLS) carrying SIP."""

    message_framed = True

    def __init__(self, transport_name: str, pool: ConnectionPool) -> None:
        super().__init__(transport_name, pool)
        self.ws = WSConnection(ConnectionType.SERVER)
        self.parts: list[bytes] = []  # the pieces of the message being received
        self.size = 0

    def data_received(self, data: bytes) -> None:
        now = self.pool.loop.time()
        self.last_activity = now
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                self._event(event)
        except WsProtocolError as exc:
            log.info("x %s %s:%s websocket error, closing: %s", self.name, *self.peer, exc)
            self.pool.counters["framing_errors"] += 1
            if exc.event_hint is not None and self.ws.state is not ConnectionState.CLOSED:
                self._write_frame(exc.event_hint)
            self.close()
            return
        self.pending_since = (self.pending_since or now) if self.parts or self.ws.state is ConnectionState.CONNECTING \
            else None

    def _event(self, event: object) -> None:
        if isinstance(event, Request):
            if SUBPROTOCOL not in (p.lower() for p in event.subprotocols):
                log.info("x %s %s:%s websocket handshake without the 'sip' subprotocol", self.name, *self.peer)
                self.pool.counters["framing_errors"] += 1
                self._write_frame(RejectConnection(status_code=400))
                self.close()
                return
            self._write_frame(AcceptConnection(subprotocol=SUBPROTOCOL))
        elif isinstance(event, (TextMessage, BytesMessage)):
            part = event.data.encode("utf-8") if isinstance(event, TextMessage) else bytes(event.data)
            self.size += len(part)
            if self.size > self.pool.max_message_size:
                log.info("x %s %s:%s message over %d bytes, closing", self.name, *self.peer, self.pool.max_message_size)
                self.pool.counters["framing_errors"] += 1
                self.close(MESSAGE_TOO_BIG, "message too big")
                return
            self.parts.append(part)
            if event.message_finished:
                message, self.parts, self.size = b"".join(self.parts), [], 0
                if message.strip(b"\r\n"):  # a bare CRLF is no message (some clients ping so)
                    self.pool.on_message(message, self)
        elif isinstance(event, Ping):
            self._write_frame(event.response())
        elif isinstance(event, CloseConnection):
            if self.ws.state is not ConnectionState.CLOSED:
                self._write_frame(event.response())
            super().close()

    def _write_frame(self, event: object) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.ws.send(event))  # type: ignore[arg-type]

    def write(self, data: bytes) -> None:
        """Send one SIP message as one WebSocket message (text when it is UTF-8)."""
        if self.ws.state is not ConnectionState.OPEN:
            return
        try:
            frame: object = TextMessage(data=data.decode("utf-8"))
        except UnicodeDecodeError:
            frame = BytesMessage(data=data)
        self._write_frame(frame)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.ws.state is ConnectionState.OPEN:
            try:
                self._write_frame(CloseConnection(code=code, reason=reason))
            except WsProtocolError:
                pass
        super().close()
