"""SIP over WebSocket (RFC 7118) at the endpoint: the handshake wants the ``sip``
subprotocol, each WebSocket message is one SIP message (text; fragments joined), responses and
later requests go back over the browser's own connection, pings are answered and an oversized
message closes the connection.  Real sockets on 127.0.0.1; the client side is wsproto's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from softswitch.sip.message import Request as SipRequest
from softswitch.sip.message import Response, make_response, parse_message
from softswitch.sip.transaction import ServerTransaction, Target, TimerConfig
from softswitch.sip.transport.endpoint import ListenSpec, SipEndpoint

WAIT = 5.0


class Tu:
    def __init__(self) -> None:
        self.endpoint: SipEndpoint | None = None
        self.sources: list[Target] = []
        self.closed: list[Target] = []

    def on_request(self, tx: ServerTransaction, request: SipRequest, source: Target) -> None:
        assert self.endpoint is not None
        self.sources.append(source)
        self.endpoint.respond(tx, make_response(request, 200, to_tag="tu"))

    def on_cancel(self, tx: ServerTransaction, request: SipRequest, invite: ServerTransaction | None) -> None:
        pass

    def on_ack(self, request: SipRequest, source: Target) -> None:
        pass

    def on_flow_closed(self, source: Target) -> None:
        self.closed.append(source)


class Browser:
    """A WebSocket client as a browser phone opens one (wsproto, client side)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []

    @classmethod
    async def open(cls, port: int, subprotocols: list[str]) -> tuple[Browser, Event]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        browser = cls(reader, writer)
        browser.send(Request(host=f"127.0.0.1:{port}", target="/", subprotocols=subprotocols))
        return browser, await browser.next()

    def send(self, event: Event) -> None:
        self.writer.write(self.ws.send(event))

    async def next(self) -> Event:
        async with asyncio.timeout(WAIT):
            while not self.pending:
                data = await self.reader.read(65536)
                self.ws.receive_data(data or None)
                self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def message(self) -> bytes:
        event = await self.next()
        assert isinstance(event, TextMessage) and event.message_finished, event
        return event.data.encode()


def options(n: int, branch: str = "z9hG4bKws") -> str:
    return (f"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch={branch}{n}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=b{n}\r\nTo: <sip:127.0.0.1>\r\n"
            f"Call-ID: ws-{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
async def switch() -> AsyncIterator[tuple[SipEndpoint, Tu, int]]:
    tu = Tu()
    endpoint = SipEndpoint(tu, timers=TimerConfig(), max_message_size=4096)
    tu.endpoint = endpoint
    await endpoint.listen([ListenSpec("ws", "127.0.0.1", 0)])
    try:
        yield endpoint, tu, endpoint.local["WS"][1]
    finally:
        await endpoint.close()


async def test_each_websocket_message_is_one_sip_message_answered_over_the_same_connection(
        switch: tuple[SipEndpoint, Tu, int]) -> None:
    endpoint, tu, port = switch
    browser, accepted = await Browser.open(port, ["sip"])
    assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == "sip"

    browser.send(TextMessage(data=options(1)))
    response = parse_message(await browser.message())
    assert isinstance(response, Response) and response.status == 200 and response.call_id == "ws-1"
    assert "df7jal23ls0d.invalid" in response.get("Via") and "received=127.0.0.1" in response.get("Via")
    (source,) = tu.sources
    assert source.transport == "WS" and source.conn_id is not None

    text = options(2)  # one SIP message in two fragments
    browser.send(TextMessage(data=text[:40], message_finished=False))
    browser.send(TextMessage(data=text[40:], message_finished=True))
    assert parse_message(await browser.message()).call_id == "ws-2"  # type: ignore[union-attr]

    browser.send(Ping(payload=b"hi"))
    pong = await browser.next()
    assert isinstance(pong, Pong) and pong.payload == b"hi"

    # A request of the switch's own (to a registered browser) goes over that connection.
    request = parse_message(options(3, "z9hG4bKout").replace("WS df7jal23ls0d.invalid", "WS 127.0.0.1").encode())
    assert isinstance(request, SipRequest)
    answered: list[Response | None] = []

    def on_response(response: Response | None) -> None:
        answered.append(response)

    endpoint.send_request(request, source, on_response)
    out = parse_message(await browser.message())
    assert isinstance(out, SipRequest) and out.method == "OPTIONS" and out.call_id == "ws-3"
    browser.send(TextMessage(data=bytes(make_response(out, 200, to_tag="b")).decode()))
    async with asyncio.timeout(WAIT):  # no Content-Length: the WebSocket message says where it ends
        while not answered:
            await asyncio.sleep(0.01)
    assert answered[0] is not None and answered[0].status == 200

    browser.send(CloseConnection(code=1000))
    closing = await browser.next()
    assert isinstance(closing, CloseConnection)
    async with asyncio.timeout(WAIT):
        while not tu.closed:
            await asyncio.sleep(0.01)
    assert tu.closed == [source]


async def test_a_handshake_without_the_sip_subprotocol_is_refused(switch: tuple[SipEndpoint, Tu, int]) -> None:
    _, tu, port = switch
    browser, answer = await Browser.open(port, ["chat"])
    assert isinstance(answer, RejectConnection) and answer.status_code == 400
    assert tu.sources == []


async def test_a_message_over_the_maximum_closes_the_connection(switch: tuple[SipEndpoint, Tu, int]) -> None:
    endpoint, tu, port = switch
    browser, _ = await Browser.open(port, ["sip"])
    browser.send(BytesMessage(data=b"OPTIONS " + b"x" * 5000))
    closing = await browser.next()
    assert isinstance(closing, CloseConnection) and closing.code == 1009
    assert tu.sources == [] and endpoint.pool.counters["framing_errors"] == 1
    browser.writer.close()
