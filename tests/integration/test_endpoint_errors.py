"""The endpoint contains bugs at its edges (issue 13 item 3): an exception out of a timer, a
datagram or stream handler or a TU callback is logged (with its traceback, rate-limited) and
counted, and the loop, the socket and every other transaction carry on.  Real sockets on
127.0.0.1, port 0; failures are injected into the callbacks and one machine's handler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from softswitch.sip.message import Request, Response, make_response, parse_message
from softswitch.sip.transaction import ClientTransaction, ServerTransaction, Target, TimerConfig
from softswitch.sip.transport import endpoint as endpoint_module
from softswitch.sip.transport.endpoint import ListenSpec, SipEndpoint

WAIT = 5.0  # bound on every wait; the events come in milliseconds on an idle machine


class Tu:
    """Answers every request 200, unless told to fail; records what reached it."""

    def __init__(self) -> None:
        self.endpoint: SipEndpoint | None = None
        self.fail_requests = 0
        self.fail_acks = 0
        self.acks: list[Request] = []

    def on_request(self, tx: ServerTransaction, request: Request, source: Target) -> None:
        if self.fail_requests:
            self.fail_requests -= 1
            raise RuntimeError("injected: the TU failed on a request")
        assert self.endpoint is not None
        self.endpoint.respond(tx, make_response(request, 200, to_tag="tu"))

    def on_cancel(self, tx: ServerTransaction, request: Request, invite: ServerTransaction | None) -> None:
        pass

    def on_ack(self, request: Request, source: Target) -> None:
        if self.fail_acks:
            self.fail_acks -= 1
            raise RuntimeError("injected: the TU failed on an ACK")
        self.acks.append(request)

    def on_flow_closed(self, source: Target) -> None:
        pass


class Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def next(self, want: Callable[[bytes], bool] = lambda _: True) -> bytes:
        async with asyncio.timeout(WAIT):
            while True:
                data = await self.queue.get()
                if want(data):
                    return data


def options(port: int, n: int, method: str = "OPTIONS", transport: str = "UDP", to_tag: str = "",
            via: str | None = None) -> bytes:
    to_param = f";tag={to_tag}" if to_tag else ""
    via = via or f"SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bK-err-{n}-{method};rport"
    return (
        f"{method} sip:switch@127.0.0.1 SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:peer@127.0.0.1>;tag=p1\r\n"
        f"To: <sip:switch@127.0.0.1>{to_param}\r\n"
        f"Call-ID: err-{n}@test\r\n"
        f"CSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def status_of(data: bytes) -> int:
    msg = parse_message(data)
    assert isinstance(msg, Response)
    return msg.status


Stack = tuple[SipEndpoint, Tu, Peer, int]


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    tu = Tu()
    ep = SipEndpoint(tu, timers=TimerConfig(t1=0.05, t2=0.4, t4=0.5))
    tu.endpoint = ep
    await ep.listen([ListenSpec("udp", "127.0.0.1", 0), ListenSpec("tcp", "127.0.0.1", 0)])
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        yield ep, tu, peer, ep.local["UDP"][1]
    finally:
        assert peer.transport is not None
        peer.transport.close()
        await ep.close()


def tracebacks(caplog: pytest.LogCaptureFixture, where: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and f"internal error ({where})" in r.getMessage()]


async def test_a_failing_request_handler_is_answered_500_counted_and_the_next_request_served(
    stack: Stack, caplog: pytest.LogCaptureFixture,
) -> None:
    ep, tu, peer, port = stack
    tu.fail_requests = 1
    peer.send(options(peer.port, 1), port)
    assert status_of(await peer.next()) == 500
    peer.send(options(peer.port, 2), port)
    assert status_of(await peer.next()) == 200
    assert ep.counters["internal_errors"] == ep.counters["internal_errors_request"] == 1
    (record,) = tracebacks(caplog, "request")
    assert record.exc_info is not None and "injected" in str(record.exc_info[1])


async def test_a_failing_ack_handler_is_counted_and_the_loop_goes_on(stack: Stack) -> None:
    ep, tu, peer, port = stack
    tu.fail_acks = 1
    peer.send(options(peer.port, 1, "ACK", to_tag="x"), port)  # an ACK for a 2xx: to the TU
    peer.send(options(peer.port, 2, "ACK", to_tag="x"), port)
    peer.send(options(peer.port, 3), port)
    assert status_of(await peer.next()) == 200
    assert ep.counters["internal_errors_output"] == 1
    assert [a.call_id for a in tu.acks] == ["err-2@test"]


async def test_a_failing_datagram_handler_is_counted_and_the_socket_keeps_reading(
    stack: Stack, caplog: pytest.LogCaptureFixture,
) -> None:
    ep, _, peer, port = stack
    failures = iter([True, True, True])

    def is_banned(host: str) -> bool:  # a bug in the ban check, on the first three messages
        if next(failures, False):
            raise KeyError(host)
        return False

    ep.is_banned = is_banned
    for n in range(3):
        peer.send(options(peer.port, n), port)
    peer.send(options(peer.port, 9), port)
    assert status_of(await peer.next()) == 200
    assert ep.counters["internal_errors_datagram"] == 3
    assert len(tracebacks(caplog, "datagram")) == 1  # the repeats within the interval are only counted
    # Once the interval has passed, the next one is logged again and says how many were not.
    key = ("datagram", "KeyError")
    ep._errors_logged[key] = (ep.loop.time() - endpoint_module.ERROR_LOG_INTERVAL, 2)
    failures = iter([True])
    peer.send(options(peer.port, 10), port)
    peer.send(options(peer.port, 11), port)
    assert status_of(await peer.next()) == 200
    last = tracebacks(caplog, "datagram")[-1]
    assert "2 more like it" in last.getMessage()


def failing_screen(*fails: bool) -> Callable[[str], bool]:
    """An ``is_banned`` that raises on the calls ``fails`` says (then bans nobody)."""
    failures = iter(fails)

    def is_banned(host: str) -> bool:
        if next(failures, False):
            raise KeyError(host)
        return False

    return is_banned


async def test_a_failing_stream_handler_keeps_the_connection(stack: Stack) -> None:
    ep, _, _, _ = stack
    ep.is_banned = failing_screen(False, True)  # the connection screened, then its first message's handling fails
    reader, writer = await asyncio.open_connection(*ep.local["TCP"])
    try:
        local_port = writer.get_extra_info("sockname")[1]
        writer.write(options(local_port, 1, transport="TCP") + options(local_port, 2, transport="TCP"))
        async with asyncio.timeout(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"SIP/2.0 200") and b"err-2@test" in head  # the second, same connection
        assert ep.counters["internal_errors_stream"] == 1
    finally:
        writer.close()


async def test_a_failing_connection_screen_takes_the_connection(stack: Stack) -> None:
    ep, _, _, _ = stack
    ep.is_banned = failing_screen(True)  # the connection's screen fails
    reader, writer = await asyncio.open_connection(*ep.local["TCP"])
    try:
        writer.write(options(writer.get_extra_info("sockname")[1], 1, transport="TCP"))
        async with asyncio.timeout(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"SIP/2.0 200") and ep.counters["internal_errors_accept"] == 1
    finally:
        writer.close()


async def test_a_failing_timer_is_counted_abandoned_and_the_other_timers_keep_running(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    ep, _, peer, _ = stack

    def broken(self: ClientTransaction, now: float) -> list[object]:
        raise RuntimeError("injected: Timer E failed")

    monkeypatch.setattr(ClientTransaction, "_timer_e", broken)  # non-INVITE clients only
    target = Target("UDP", "127.0.0.1", peer.port, 0)
    outcome: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

    def on_options(response: Response | None) -> None:
        outcome.set_result(response)

    def on_invite(response: Response | None) -> None:
        pass

    def outgoing(method: str, n: int) -> Request:
        msg = parse_message(options(0, n, method, via=ep.new_via("UDP")))
        assert isinstance(msg, Request)
        return msg

    opt = ep.send_request(outgoing("OPTIONS", 1), target, on_options)
    inv = ep.send_request(outgoing("INVITE", 2), target, on_invite)
    async with asyncio.timeout(WAIT):
        assert await outcome is None  # abandoned as timed out: its user is not left waiting
    copies = 0
    while copies < 3:  # the INVITE's Timer A keeps retransmitting after the failure
        if (await peer.next()).startswith(b"INVITE"):
            copies += 1
    assert ep.counters["internal_errors_timer"] == 1
    assert opt.key not in ep.layer.client and inv.key in ep.layer.client
    (record,) = tracebacks(caplog, "timer")
    assert "ClientTransaction" in record.getMessage()
