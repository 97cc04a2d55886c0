"""The SIP endpoint: transports, the pure transaction layer, and the TU callbacks.

Bytes arrive from a transport; the endpoint parses them, stamps the top Via
with where they really came from (RFC 3581: responses go back to the source
address and port, which is what keeps NAT'd phones reachable), feeds the
transaction layer and hands new requests to the transaction user.  A message
that does not parse gets a stateless error response when it is a request
whose Via could be read, and is otherwise dropped and counted; an exception
in the TU is logged and answered with 500, never allowed to stop the loop.
Two hooks screen sources: ``is_banned`` before parsing (a banned source costs a
look-up) and ``admit`` after it, before any transaction (per-source limits): what
they refuse is dropped unanswered and counted (``dropped_banned``, ``dropped_limited``).
A third, ``shed``, is asked about each new INVITE (no To tag, no transaction yet) before any
transaction is made for it: the refusal it returns (a ``503`` under overload) is sent
statelessly (RFC 3261 §8.2.7, the way a UAS under heavy load answers): no transaction,
no retransmission, a To tag derived from the request (``stateless_tag``) so that a
retransmitted INVITE gets the same answer, and the ACK for it, recognised by that tag
before it is parsed, ignored (``stateless_responses``, ``stateless_acks``).  An INVITE in
the plain shape is not even parsed for this: a glance (``peek.py``) reads the few fields the
answer copies, the source is counted (``admit_new``) and ``shed`` asked; only an INVITE let
through is parsed (and not counted or asked again).  Refusing a call so costs a glance and a
send (~10 µs of Python), not a parse (~27 µs), nor a transaction with its timers and its ACK.

Any other exception that escapes a core or a callback (a bug: DESIGN.md) is
caught at the edge where it surfaced: a datagram or stream handler, a timer
(per transaction, so one failing machine does not cost the others their
timers; the failed one is abandoned as timed out), or one of the layer's
outputs.  It is counted in ``counters`` (``internal_errors`` and
``internal_errors_<where>``, shown with the other SIP counters in the live
view) and logged with its traceback, at most once per ``ERROR_LOG_INTERVAL``
per place and exception type so a storm of one bug cannot flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import socket
import ssl
import sys
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import RemoteProtocolError
from ..headers import Via, contact_value
from ..layer import AckReceived, CancelReceived, LayerOutput, RequestReceived, StrayResponse, TransactionLayer
from ..message import (
    REASONS,
    MessageError,
    Request,
    Response,
    make_error_response,
    make_response,
    parse_message,
    too_large,
)
from ..peek import Peek, peek_new, stateless_answer
from ..transaction import (
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    Target,
    TimerConfig,
    TransactionTimedOut,
    Transmit,
)
from ..uas import stamp_via
from ..uri import is_ip_literal
from .stream import ConnectionPool, StreamConnection
from .udp import UdpListener
from .ws import WsConnection

# Methods counted by name (RFC 3261 and its extensions); any other is "other".
METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH",
                     "INFO", "REFER", "MESSAGE", "UPDATE"})

log = logging.getLogger(__name__)
trace = logging.getLogger("softswitch.sip.trace")

TIMER_SLACK = 0.01  # seconds
MAX_DATAGRAM = 65507  # bytes of UDP payload over IPv4 (65535 less the IP and UDP headers)
ERROR_LOG_INTERVAL = 10.0  # seconds between tracebacks of one kind of internal error
# A challenged REGISTER's answer kept for its retransmissions (which come 0.5, 1.5 and 3.5 s
# after it over UDP, RFC 3261 §17.1.2.2), so that they are not counted as new challenges.
NAME_TTL = 60.0  # seconds a host name's address, looked up to send a datagram, is used before it is looked up again
TLS_HANDSHAKE_TIMEOUT = 10.0  # seconds a TLS client has to finish its handshake (asyncio's default: 60): a
# connection counts against the caps only once it is done
CHALLENGE_MEMORY = 4.0  # seconds
CHALLENGES_KEPT = 8192  # answers (~4 MB at most)


class TransactionUser(Protocol):
    def on_request(self, tx: ServerTransaction, request: Request, source: Target) -> None: ...
    def on_cancel(self, tx: ServerTransaction, request: Request, invite: ServerTransaction | None) -> None: ...
    def on_ack(self, request: Request, source: Target) -> None: ...
    def on_flow_closed(self, source: Target) -> None: ...


ClientCallback = Callable[[Response | None], None]


@dataclass(frozen=True, slots=True)
class StatelessRefusal:
    """What ``shed`` answers a new INVITE with, statelessly (a ``503`` and its Retry-After)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ListenSpec:
    transport: str  # "udp" | "tcp" | "tls" | "ws" | "wss"
    address: str
    port: int


class SipEndpoint:
    def __init__(
        self, tu: TransactionUser, *, timers: TimerConfig, max_message_size: int = 65535,
        tcp_idle_timeout: float = 900.0, is_banned: Callable[[str], bool] = lambda _: False,
        admit: Callable[[Request | Response | None, Target], bool] = lambda _m, _s: True,
        admit_new: Callable[[str, Target], bool] = lambda _m, _s: True,
        shed: Callable[[Target, float | None], StatelessRefusal | None] = lambda _s, _w: None,
        challenge: Callable[[Peek, Target], StatelessRefusal | None] = lambda _p, _s: None,
        branch_factory: Callable[[], str] | None = None, advertised_address: str | None = None,
    ) -> None:
        self.tu = tu
        self.advertised_address = advertised_address  # how we name ourselves, if not the bound address
        self.layer = TransactionLayer(timers, branch_factory)
        self.max_message_size = max_message_size
        self.tcp_idle_timeout = tcp_idle_timeout
        self.is_banned = is_banned  # before parsing: a banned source costs a dictionary look-up
        self.admit = admit  # after parsing (None: unparseable), before any transaction: False drops it unanswered
        self.admit_new = admit_new  # the same for a new request (no To tag) of a method, read from a glance
        # A new INVITE from there, which waited that long in the kernel (seconds; None: not known),
        # before its transaction: a refusal to send statelessly, or None.
        self.shed = shed
        self._waited: float | None = None  # how long the datagram being handled waited in the kernel
        # A new REGISTER without credentials, from a glance: its challenge (or refusal) to send
        # statelessly, or None for the full path (the registrar's hook).
        self.challenge = challenge
        self._challenged: dict[tuple[object, ...], tuple[float, bytes]] = {}  # glanced REGISTERs: (until, answer)
        self._stateless = "sl" + secrets.token_hex(4)  # how the To tags of stateless answers begin
        self._stateless_ack = f"tag={self._stateless}".encode()
        self.loop = asyncio.get_running_loop()
        self.udp: dict[int, UdpListener] = {}
        self.servers: list[asyncio.Server] = []
        self.pool = ConnectionPool(
            self.loop, self._on_stream_message, self._on_stream_closed,
            idle_timeout=tcp_idle_timeout, max_message_size=max_message_size,
            refuse=self._refuse,  # a banned source's new connections are closed at once
        )
        self.pool.on_too_large = self._on_stream_too_large
        self.local: dict[str, tuple[str, int]] = {}  # transport -> an address we listen on
        self.counters: Counter[str] = Counter()
        self.requests_in: Counter[str] = Counter()  # by method (METHODS, else "other": labels stay few)
        self.responses_out: Counter[int] = Counter()  # by status, of the transactions' and stateless answers
        self._udp_flows: dict[tuple[str, int, int], Target] = {}  # one Target per UDP source
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._errors_logged: dict[tuple[str, str], tuple[float, int]] = {}  # last logged, suppressed since
        self._literals: set[str] = set()  # hosts sent to that are IP addresses
        self._names: dict[str, tuple[str, float]] = {}  # host name -> (its address, until when it is kept)
        self._resolving: dict[str, list[tuple[UdpListener, int, bytes]]] = {}  # name being looked up -> datagrams for it

    # --- lifecycle --------------------------------------------------------
    async def listen(self, specs: list[ListenSpec], tls: ssl.SSLContext | None = None) -> None:
        for i, spec in enumerate(specs):
            if spec.transport == "udp":
                _, proto = await self.loop.create_datagram_endpoint(
                    lambda i=i: UdpListener(i, self._on_datagram), local_addr=(spec.address, spec.port)  # type: ignore[misc]
                )
                self.udp[i] = proto
                self.local.setdefault("UDP", proto.local)
            else:
                name = spec.transport.upper()
                secure = name in ("TLS", "WSS")
                if secure and tls is None:
                    raise ValueError(f"a {name} listener needs server.tls (certificate and private_key)")
                kind = WsConnection if name in ("WS", "WSS") else StreamConnection
                server = await self.loop.create_server(
                    lambda name=name, kind=kind: kind(name, self.pool),
                    spec.address, spec.port, ssl=tls if secure else None, reuse_address=True,
                    ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if secure else None,
                )
                self.servers.append(server)
                sock = server.sockets[0].getsockname()
                self.local.setdefault(name, (sock[0], sock[1]))
        self._sweeper = self.loop.call_later(5.0, self._sweep)

    def _sweep(self) -> None:
        try:
            self.pool.sweep()
        except Exception:
            self._internal_error("sweep", "sweeping connections")
        self._sweeper = self.loop.call_later(5.0, self._sweep)

    async def close(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        if self._timer:
            self._timer.cancel()
        for server in self.servers:
            server.close()
        self.pool.close_all()
        for server in self.servers:
            await server.wait_closed()
        for proto in self.udp.values():
            if proto.transport:
                proto.transport.close()

    # --- errors -----------------------------------------------------------
    def _internal_error(self, where: str, what: str, *args: object) -> None:
        """Count and log the exception being handled (call from an ``except`` block): a bug that
        escaped a core or a callback.  Its traceback is logged at most once per
        ``ERROR_LOG_INTERVAL`` per place and exception type; the repeats are counted and told."""
        self.counters["internal_errors"] += 1
        self.counters[f"internal_errors_{where}"] += 1
        exc = sys.exc_info()[1]
        key = (where, type(exc).__name__)
        now = self.loop.time()
        last, suppressed = self._errors_logged.get(key, (-math.inf, 0))
        if now - last < ERROR_LOG_INTERVAL:
            self._errors_logged[key] = (last, suppressed + 1)
            return
        self._errors_logged[key] = (now, 0)
        more = f" ({suppressed} more like it not logged since the last)" if suppressed else ""
        log.error("internal error (%s) " + what + "%s", where, *args, more, exc_info=exc)

    # --- receiving --------------------------------------------------------
    def _on_datagram(self, data: bytes, addr: tuple[str, int], listener_id: int, waited: float | None) -> None:
        self._waited = waited
        try:
            self._datagram(data, addr, listener_id)
        except Exception:
            self._internal_error("datagram", "handling a datagram from %s:%s", addr[0], addr[1])
        finally:
            self._waited = None

    def _datagram(self, data: bytes, addr: tuple[str, int], listener_id: int) -> None:
        if not data.strip(b"\r\n\x00 "):
            self.counters["keepalives"] += 1  # CRLF keep-alive from a phone: nothing to answer on UDP
            return
        key = (addr[0], addr[1], listener_id)
        source = self._udp_flows.get(key)
        if source is None:
            if len(self._udp_flows) > 65536:
                self._udp_flows.clear()
            source = self._udp_flows[key] = Target("UDP", addr[0], addr[1], listener_id)
        self.receive(data, source, stream=False)

    def _refuse(self, host: str) -> bool:
        try:
            return self.is_banned(host)
        except Exception:  # a bug in the screen: the connection is taken, as if not banned
            self._internal_error("accept", "screening a connection from %s", host)
            return False

    def _on_stream_message(self, data: bytes, conn: StreamConnection) -> None:
        # Caught here, not in asyncio: an exception out of data_received closes the connection.
        try:
            # A WebSocket message is one SIP message, Content-Length or not (RFC 7118 §5.1): parsed as a datagram is.
            self.receive(data, Target(conn.name, conn.peer[0], conn.peer[1], conn.conn_id), stream=not conn.message_framed)
        except Exception:
            self._internal_error("stream", "handling a message from %s %s:%s", conn.name, *conn.peer)

    def _on_stream_too_large(self, head: bytes, size: int, conn: StreamConnection) -> None:
        """A message over the size cap on a stream, before its body: a request gets ``513``,
        then the connection closes (its bytes cannot be followed further)."""
        source = Target(conn.name, conn.peer[0], conn.peer[1], conn.conn_id)
        try:
            if self.admit(None, source):  # counted as any message that did not parse
                self._reject(too_large(head, size, self.max_message_size), source)
        except Exception:
            self._internal_error("stream", "answering a message too large from %s %s:%s", conn.name, *conn.peer)

    def _on_stream_closed(self, conn: StreamConnection) -> None:
        try:
            self.tu.on_flow_closed(Target(conn.name, conn.peer[0], conn.peer[1], conn.conn_id))
        except Exception:
            self._internal_error("flow_closed", "closing the flow of %s %s:%s", conn.name, *conn.peer)

    def receive(self, data: bytes, source: Target, *, stream: bool) -> None:
        if self.is_banned(source.host):
            self.counters["dropped_banned"] += 1
            return
        self.counters["received"] += 1
        if trace.isEnabledFor(logging.DEBUG):
            trace.debug("< %s %s:%s\n%s", source.transport, source.host, source.port, data.decode("utf-8", "replace"))
        if data.startswith(b"ACK ") and self._stateless_ack in data:
            self.counters["stateless_acks"] += 1  # for a stateless answer: nothing to match (§8.2.7)
            return
        admitted = False  # a new INVITE or REGISTER counted, and not answered, from its glance
        if data.startswith(b"INVITE ") and len(data) <= self.max_message_size:
            peek = peek_new(data, "INVITE")
            if peek is not None and not self.layer.knows_new(peek.via, "INVITE"):
                if not self.admit_new("INVITE", source):
                    self.counters["dropped_limited"] += 1
                    return
                self.requests_in["INVITE"] += 1
                refusal = self.shed(source, self._waited)
                if refusal is not None:
                    self._answered_glanced(peek, source, refusal)
                    return
                admitted = True
        elif data.startswith(b"REGISTER ") and len(data) <= self.max_message_size and b"uthorization" not in data:
            # (the authenticated half of a registration is not glanced at in vain; credentials
            # spelt in another case are noted by the glance and take the full path all the same)
            peek = peek_new(data, "REGISTER")
            if peek is not None and not peek.noted and not self.layer.knows_new(peek.via, "REGISTER"):
                if not self.admit_new("REGISTER", source):
                    self.counters["dropped_limited"] += 1
                    return
                self.requests_in["REGISTER"] += 1
                key = (source.host, source.port, peek.via.branch, peek.via.sent_by)
                again = self._challenged.get(key)
                if again is not None and again[0] > self.loop.time():
                    # A retransmission of a REGISTER challenged lately (its answer was lost, or
                    # is on its way): the same answer again, not another challenge to count.
                    self.counters["retransmissions"] += 1
                    self._send(source, again[1])
                    return
                answer = self.challenge(peek, source)
                if answer is not None:
                    self._remember_challenge(key, self._answered_glanced(peek, source, answer))
                    return
                admitted = True
        try:
            msg = parse_message(data, stream=stream, max_size=self.max_message_size)
        except MessageError as exc:
            if admitted or self.admit(None, source):
                self._reject(exc, source)
            else:
                self.counters["dropped_limited"] += 1
            return
        except Exception:  # the parser's bug: nothing was read that could be answered
            self._internal_error("parse", "parsing a message from %s:%s", source.host, source.port)
            return
        try:
            if not admitted and not self.admit(msg, source):
                self.counters["dropped_limited"] += 1
                return
            if isinstance(msg, Request):
                if not admitted:
                    self.requests_in[msg.method if msg.method in METHODS else "other"] += 1
                stamp_via(msg, source.host, source.port)
                if msg.method == "INVITE" and not admitted and self._answered_statelessly(msg, source):
                    return
                self._process(self.layer.receive_request(msg, source, self.loop.time()))
            else:
                self._process(self.layer.receive_response(msg, self.loop.time()))
        except RemoteProtocolError as exc:  # a header the TU read lazily was malformed
            if isinstance(msg, Request) and msg.method != "ACK":
                self._send(source, bytes(make_error_response(msg.headers, exc.status_hint, _reason(exc))))
            self.counters["rejected"] += 1
            log.info("x %s:%s %s", source.host, source.port, exc.reason)
        except Exception:
            self._internal_error("receive", "handling a message from %s:%s", source.host, source.port)
            if isinstance(msg, Request) and msg.method != "ACK":
                self._send(source, bytes(make_error_response(msg.headers, 500, "Server Internal Error")))

    def _answered_statelessly(self, request: Request, source: Target) -> bool:
        """A new INVITE (not a retransmission, not inside a dialog) that ``shed`` answers."""
        if request.to.tag is not None or self.layer.knows(request):
            return False
        refusal = self.shed(source, self._waited)
        if refusal is None:
            return False
        response = make_response(request, refusal.status, refusal.reason, to_tag=self.stateless_tag(request))
        for name, value in refusal.headers:
            response.add(name, value)
        response.set("Content-Length", "0")
        self._send_stateless(source, refusal.status, bytes(response))
        return True

    def _answered_glanced(self, peek: Peek, source: Target, answer: StatelessRefusal) -> bytes:
        tag = self._stateless_tag(peek.call_id, peek.from_value, peek.via.branch, peek.cseq)
        data = stateless_answer(peek, answer.status, answer.reason, tag, answer.headers, source.host, source.port)
        self._send_stateless(source, answer.status, data)
        return data

    def _remember_challenge(self, key: tuple[object, ...], data: bytes) -> None:
        """Keep a glanced REGISTER's answer for ``CHALLENGE_MEMORY`` seconds, the newest
        ``CHALLENGES_KEPT`` at most (a flood cannot grow it): what its retransmissions get."""
        challenged = self._challenged
        challenged.pop(key, None)  # (an expired one: the newest go last)
        challenged[key] = (self.loop.time() + CHALLENGE_MEMORY, data)
        if len(challenged) > CHALLENGES_KEPT:
            del challenged[next(iter(challenged))]

    def _send_stateless(self, source: Target, status: int, data: bytes) -> None:
        self.counters["stateless_responses"] += 1
        self.responses_out[status] += 1
        self._send(source, data)

    def stateless_tag(self, request: Request) -> str:
        """The To tag of a stateless answer to ``request``: the same for its retransmissions
        (RFC 3261 §8.2.7), and recognisable in the ACK that comes back for it."""
        return self._stateless_tag(request.call_id, request.get("From") or "", request.vias[0].branch, request.cseq.number)

    def _stateless_tag(self, call_id: str, from_value: str, branch: str | None, cseq: int) -> str:
        ids = f"{call_id}\0{from_value}\0{branch}\0{cseq}"
        return f"{self._stateless}{zlib.crc32(ids.encode('utf-8', 'surrogateescape')):08x}"

    def _reject(self, exc: MessageError, source: Target) -> None:
        has_via = any(h.name.lower() in ("via", "v") for h in exc.headers)
        is_ack = any(h.key == "cseq" and h.value.split()[-1:] == ["ACK"] for h in exc.headers)  # never answered
        if exc.is_request and has_via and not is_ack:
            self.counters["rejected"] += 1
            resp = make_error_response(exc.headers, exc.status_hint, _reason(exc))
            self._send(source, bytes(resp))
            log.info("x %s:%s %d %s", source.host, source.port, exc.status_hint, exc.reason)
        else:
            self.counters["dropped_malformed"] += 1
            log.info("x %s:%s dropped: %s", source.host, source.port, exc.reason)

    # --- the layer's outputs ----------------------------------------------
    def _process(self, outputs: list[LayerOutput]) -> None:
        self._deliver(outputs)
        self._rearm()

    def _deliver(self, outputs: list[LayerOutput]) -> None:
        for out in outputs:
            try:
                self._output(out)
            except Exception:  # the outputs after it are still sent and delivered
                self._internal_error("output", "handling %s", type(out).__name__)

    def _output(self, out: LayerOutput) -> None:
        if isinstance(out, Transmit):
            self._send(out.target, out.data)
        elif isinstance(out, RequestReceived):
            self._dispatch(out.transaction, out.request)
        elif isinstance(out, ResponseReceived):
            self._notify(out.transaction, out.response, out.last)
        elif isinstance(out, TransactionTimedOut):
            if isinstance(out.transaction, ClientTransaction):
                self._notify(out.transaction, None, last=True)
        elif isinstance(out, CancelReceived):
            self.tu.on_cancel(out.transaction, out.request, out.invite)
        elif isinstance(out, AckReceived):
            self.tu.on_ack(out.request, out.source)
        elif isinstance(out, StrayResponse):
            self.counters["stray_responses"] += 1

    def _dispatch(self, tx: ServerTransaction, request: Request) -> None:
        try:
            self.tu.on_request(tx, request, tx.target)
        except RemoteProtocolError as exc:
            self.counters["rejected"] += 1
            log.info("x %s %s: %s", request.method, request.call_id, exc.reason)
            self.respond(tx, make_response(request, exc.status_hint, _reason(exc)))
        except Exception:
            self._internal_error("request", "in %s %s", request.method, request.call_id)
            self.respond(tx, make_response(request, 500))

    def _notify(self, tx: ClientTransaction, response: Response | None, last: bool) -> None:
        callback: ClientCallback | None = tx.user_data
        if callback is None:
            return
        if last:  # let go of the handler, and of what it holds (a call), now
            tx.user_data = None
        try:
            callback(response)
        except Exception:
            self._internal_error("response", "in a response handler (%s)", response.status if response else "timeout")

    def _rearm(self) -> None:
        when = self.layer.get_timer()
        if when is not None:
            # Wake at most TIMER_SLACK late, never early: thousands of transactions a second
            # then share one wake-up instead of arming the loop once each.
            when = math.ceil(when / TIMER_SLACK) * TIMER_SLACK
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.loop.time()
        try:
            while (tx := self.layer.due(now)) is not None:
                try:
                    outputs = self.layer.fire(tx, now)
                except Exception:
                    self._internal_error("timer", "in a timer of %s %s", type(tx).__name__, tx.state.value)
                    outputs = self.layer.abandon(tx)
                self._deliver(outputs)
        finally:
            self._rearm()  # whatever happened, the other transactions' timers stay armed

    # --- sending ----------------------------------------------------------
    def respond(self, tx: ServerTransaction, response: Response) -> None:
        self.responses_out[response.status] += 1
        if response.get("Content-Length") is None:
            response.set("Content-Length", str(len(response.body)))
        self._process(self.layer.respond(tx, response, self.loop.time()))

    def send_request(self, request: Request, target: Target, on_response: ClientCallback) -> ClientTransaction:
        tx, outputs = self.layer.send_request(request, target, self.loop.time(), on_response)
        self._process(outputs)
        return tx

    def send_raw(self, target: Target, data: bytes) -> None:
        self._send(target, data)

    def _send(self, target: Target, data: bytes) -> None:
        if trace.isEnabledFor(logging.DEBUG):
            trace.debug("> %s %s:%s\n%s", target.transport, target.host, target.port, data.decode("utf-8", "replace"))
        if target.transport == "UDP":
            listener = self.udp.get(target.conn_id or 0) or next(iter(self.udp.values()), None)
            if listener is None:
                self.counters["send_failed"] += 1
                return
            if len(data) > MAX_DATAGRAM:  # the kernel would refuse it (EMSGSIZE): a counted drop
                self.counters["send_failed_too_large"] += 1
                log.info("x %d bytes for %s:%s do not fit a UDP datagram: not sent", len(data), target.host, target.port)
                return
            host = target.host
            if host not in self._literals:
                host = host.strip("[]")  # (an IPv6 address as a URI writes it)
                if not self._literal(host):
                    self._send_to_name(listener, target, data)
                    return
            listener.send(data, host, target.port)
            return
        conn = self.pool.get(target.conn_id)
        if conn is None:
            conn = self.pool.to_peer(target.transport, target.host, target.port)
        if conn is not None:
            conn.write(data)
        elif target.transport == "TCP":
            self.loop.create_task(self._connect_and_send(target, data))
        else:
            self.counters["send_failed"] += 1
            log.info("x no %s connection to %s:%s", target.transport, target.host, target.port)

    def _literal(self, host: str) -> bool:
        """Whether ``host`` is an IP address (remembered: the answer is asked for every datagram)."""
        if not is_ip_literal(host):
            return False
        if len(self._literals) >= 65536:
            self._literals.clear()
        self._literals.add(host)
        return True

    def _send_to_name(self, listener: UdpListener, target: Target, data: bytes) -> None:
        """A datagram for a host name (a trunk whose name was not resolved yet, say): the name is
        looked up off the loop (``sendto`` with a name would look it up on the loop and stall
        every call for as long as the resolver takes); datagrams for a name never found wait
        for its look-up (64 at most).  The address found is used from then on, looked up again
        in the background after ``NAME_TTL`` seconds, and kept if that fails."""
        name = target.host
        family = socket.AF_INET6 if ":" in listener.local[0] else socket.AF_INET
        found = self._names.get(name)
        if found is not None:  # the last address found, looked up again in the background when old
            listener.send(data, found[0], target.port)
            if found[1] <= self.loop.time() and name not in self._resolving:
                self._resolving[name] = []
                self.loop.create_task(self._resolve_and_send(name, family))
            return
        waiting = self._resolving.get(name)
        if waiting is not None:
            if len(waiting) < 64:
                waiting.append((listener, target.port, data))
            else:
                self.counters["send_failed"] += 1
            return
        self._resolving[name] = [(listener, target.port, data)]
        self.loop.create_task(self._resolve_and_send(name, family))

    async def _resolve_and_send(self, name: str, family: int) -> None:
        try:
            infos = await self.loop.getaddrinfo(name, None, family=family, type=socket.SOCK_DGRAM)
            address = str(infos[0][4][0])
        except Exception as exc:  # not found, no resolver, a name that is not one (UnicodeError)
            waiting = self._resolving.pop(name, [])
            self.counters["send_failed"] += len(waiting)
            kept = self._names.get(name)
            log.warning("x %s cannot be resolved (%s): %s", name, exc,
                        f"{len(waiting)} datagrams not sent" if kept is None else f"still sending to {kept[0]}")
            return
        if len(self._names) >= 4096:
            self._names.clear()
        self._names[name] = (address, self.loop.time() + NAME_TTL)
        for listener, port, data in self._resolving.pop(name, []):
            listener.send(data, address, port)

    async def _connect_and_send(self, target: Target, data: bytes) -> None:
        try:
            _, conn = await self.loop.create_connection(
                lambda: StreamConnection("TCP", self.pool, outbound=True), target.host, target.port
            )
            conn.write(data)
        except OSError as exc:
            self.counters["send_failed"] += 1
            log.info("x connect to %s:%s failed: %s", target.host, target.port, exc)

    def via_address(self, transport: str) -> tuple[str, int]:
        """The host and port we write in Via and Contact for ``transport``: the advertised
        address (a public IP before NAT) with the port we listen on."""
        host, port = self.local.get(transport) or next(iter(self.local.values()))
        return (self.advertised_address or host, port)

    def contact(self, transport: str, user: str) -> str:
        """Our Contact for requests and responses on ``transport``."""
        return contact_value(user, *self.via_address(transport), transport)

    def new_via(self, transport: str) -> str:
        """A top Via for a request we originate: our sent-by, a fresh branch, rport (RFC 3581)."""
        host, port = self.via_address(transport)
        return str(Via(transport, host, port, (("branch", self.layer.new_branch()), ("rport", None))))


def _reason(exc: RemoteProtocolError) -> str:
    base = REASONS.get(exc.status_hint, "Bad Request")
    detail = exc.reason.replace("\r", " ").replace("\n", " ")
    text = f"{base} ({detail})" if exc.status_hint == 400 else base
    return text[:200]


def make_tls_context(certificate: str, private_key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certificate, private_key)
    return ctx


__all__ = ["ListenSpec", "SipEndpoint", "TransactionUser", "make_tls_context"]
