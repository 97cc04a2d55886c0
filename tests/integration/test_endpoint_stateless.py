"""Stateless answers to new INVITEs (RFC 3261 §8.2.7), the endpoint's ``shed`` hook: the
overloaded switch refuses a call without making a transaction for it.  Real sockets on
127.0.0.1, port 0; the hook is the test's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from softswitch.sip.message import Request, Response, make_response, parse_message
from softswitch.sip.transaction import Target, TimerConfig
from softswitch.sip.transport.endpoint import ListenSpec, SipEndpoint

from .test_endpoint_errors import Peer, Tu, options

Stack = tuple[SipEndpoint, Tu, Peer, int, list[str]]


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    tu = Tu()
    ep = SipEndpoint(tu, timers=TimerConfig(t1=0.05, t2=0.4, t4=0.5))
    tu.endpoint = ep
    seen: list[str] = []  # the Call-IDs the hook was asked about

    def shed(request: Request, source: Target) -> Response | None:
        seen.append(request.call_id)
        if "refuse" not in request.call_id:
            return None
        refusal = make_response(request, 503, "Overloaded", to_tag=ep.stateless_tag(request))
        refusal.add("Retry-After", "7")
        return refusal

    ep.shed = shed
    await ep.listen([ListenSpec("udp", "127.0.0.1", 0)])
    _, peer = await asyncio.get_running_loop().create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        yield ep, tu, peer, ep.local["UDP"][1], seen
    finally:
        assert peer.transport is not None
        peer.transport.close()
        await ep.close()


def invite(port: int, call: str, to_tag: str = "", branch: str = "1") -> bytes:
    return options(port, 0, "INVITE", to_tag=to_tag, via=f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{branch};rport") \
        .replace(b"err-0@test", call.encode())


def response(data: bytes) -> Response:
    msg = parse_message(data)
    assert isinstance(msg, Response)
    return msg


async def test_a_refused_invite_is_answered_without_a_transaction_and_its_ack_ignored(stack: Stack) -> None:
    ep, tu, peer, port, _ = stack
    peer.send(invite(peer.port, "refuse-1"), port)
    first = response(await peer.next())
    assert first.status == 503 and first.get("Retry-After") == "7" and first.get("Content-Length") == "0"
    tag = first.to.tag
    assert tag is not None and first.call_id == "refuse-1"
    assert (first.vias[0].param("received"), first.vias[0].param("rport")) == ("127.0.0.1", str(peer.port))
    assert not ep.layer.server and ep.layer.get_timer() is None  # nothing kept, nothing to retransmit
    peer.send(invite(peer.port, "refuse-1"), port)  # a retransmission: the same answer, the same tag
    again = response(await peer.next())
    assert (again.status, again.to.tag) == (503, tag)
    ack = options(peer.port, 0, "ACK", to_tag=tag, via=f"SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-1;rport")
    peer.send(ack.replace(b"err-0@test", b"refuse-1"), port)
    peer.send(options(peer.port, 5), port)  # whatever the ACK caused would come before this answer
    assert response(await peer.next()).call_id == "err-5@test"
    assert ep.counters["stateless_responses"] == 2 and ep.counters["stateless_acks"] == 1 and not tu.acks


async def test_only_new_invites_reach_the_hook(stack: Stack) -> None:
    ep, _, peer, port, seen = stack
    peer.send(invite(peer.port, "admitted"), port)
    assert response(await peer.next()).status == 200  # the TU answers what the hook let through
    peer.send(invite(peer.port, "admitted"), port)  # its retransmission: its transaction's (RFC 6026 Accepted)
    peer.send(invite(peer.port, "refuse-in-dialog", to_tag="t1", branch="2"), port)  # a re-INVITE is never shed
    assert response(await peer.next()).status == 200
    peer.send(options(peer.port, 3), port)
    assert response(await peer.next()).call_id == "err-3@test"
    assert seen == ["admitted"] and ep.counters["stateless_responses"] == 0


async def test_the_stateless_tag_is_the_requests_own() -> None:
    ep = SipEndpoint(Tu(), timers=TimerConfig())
    one, two = (parse_message(invite(5062, "c", branch=b)) for b in ("1", "2"))
    assert isinstance(one, Request) and isinstance(two, Request)
    assert ep.stateless_tag(one) == ep.stateless_tag(parse_message(invite(5062, "c", branch="1")))  # type: ignore[arg-type]
    assert ep.stateless_tag(one) != ep.stateless_tag(two)
    assert ep.stateless_tag(one) != SipEndpoint(Tu(), timers=TimerConfig()).stateless_tag(one)  # not guessable across runs
