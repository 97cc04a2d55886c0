"""Stateless answers to new INVITEs and REGISTERs (RFC 3261 §8.2.7), the endpoint's ``shed``
and ``challenge`` hooks: the overloaded switch refuses a call, and the registrar challenges a
REGISTER, without making a transaction for it, and for a request in the plain shape without
parsing it (peek.py).  Real sockets on 127.0.0.1, port 0; the hooks are the test's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from softswitch.sip.message import Request, Response, parse_message
from softswitch.sip.peek import Peek
from softswitch.sip.transaction import Target, TimerConfig
from softswitch.sip.transport.endpoint import ListenSpec, SipEndpoint, StatelessRefusal

from .test_endpoint_errors import Peer, Tu, options


@dataclass
class Hooks:
    refuse: bool = False
    asked: int = 0  # times ``shed`` was asked
    admitted: int = 0  # times ``admit`` (the parsed message's) was called
    new: list[str] | None = None  # the methods ``admit_new`` was called with
    allow_new: bool = True
    challenge_asked: list[Peek] | None = None  # the glances ``challenge`` was given
    challenging: bool = True

    def challenge(self, peek: Peek, source: Target) -> StatelessRefusal | None:
        self.challenge_asked = [*(self.challenge_asked or []), peek]
        return StatelessRefusal(401, "Unauthorized", (("WWW-Authenticate", 'Digest realm="t", nonce="n1"'),)) \
            if self.challenging else None

    def shed(self, source: Target, waited: float | None) -> StatelessRefusal | None:
        self.asked += 1
        return StatelessRefusal(503, "Overloaded", (("Retry-After", "7"),)) if self.refuse else None

    def admit(self, msg: object, source: Target) -> bool:
        self.admitted += 1
        return True

    def admit_new(self, method: str, source: Target) -> bool:
        self.new = [*(self.new or []), method]
        return self.allow_new


Stack = tuple[SipEndpoint, Tu, Peer, int, Hooks]


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    tu = Tu()
    hooks = Hooks()
    ep = SipEndpoint(tu, timers=TimerConfig(t1=0.05, t2=0.4, t4=0.5), shed=hooks.shed, admit=hooks.admit,
                     admit_new=hooks.admit_new, challenge=hooks.challenge)
    tu.endpoint = ep
    await ep.listen([ListenSpec("udp", "127.0.0.1", 0)])
    _, peer = await asyncio.get_running_loop().create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        yield ep, tu, peer, ep.local["UDP"][1], hooks
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


def folded(data: bytes) -> bytes:
    """The same INVITE with a folded header line: not the plain shape, so it is parsed."""
    return data.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards:\r\n 70\r\n")


@pytest.mark.parametrize("shape", ["plain", "folded"])
async def test_a_refused_invite_is_answered_without_a_transaction_and_its_ack_ignored(stack: Stack, shape: str) -> None:
    ep, tu, peer, port, hooks = stack
    hooks.refuse = True
    reshape = folded if shape == "folded" else (lambda data: data)
    peer.send(reshape(invite(peer.port, "refuse-1")), port)
    first = response(await peer.next())
    assert first.status == 503 and first.get("Retry-After") == "7" and first.get("Content-Length") == "0"
    tag = first.to.tag
    assert tag is not None and first.call_id == "refuse-1" and first.cseq.method == "INVITE"
    assert first.get("From") == "<sip:peer@127.0.0.1>;tag=p1"
    assert (first.vias[0].param("received"), first.vias[0].param("rport")) == ("127.0.0.1", str(peer.port))
    assert not ep.layer.server and ep.layer.get_timer() is None  # nothing kept, nothing to retransmit
    peer.send(reshape(invite(peer.port, "refuse-1")), port)  # a retransmission: the same answer, the same tag
    again = response(await peer.next())
    assert (again.status, again.to.tag) == (503, tag)
    ack = options(peer.port, 0, "ACK", to_tag=tag, via=f"SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-1;rport")
    peer.send(ack.replace(b"err-0@test", b"refuse-1"), port)
    peer.send(options(peer.port, 5), port)  # whatever the ACK caused would come before this answer
    assert response(await peer.next()).call_id == "err-5@test"
    assert ep.counters["stateless_responses"] == 2 and ep.counters["stateless_acks"] == 1 and not tu.acks
    assert ep.requests_in["INVITE"] == 2 and ep.responses_out[503] == 2 and hooks.asked == 2
    if shape == "plain":  # glanced at: counted once by its method, never parsed nor admitted as a message
        assert hooks.new == ["INVITE", "INVITE"] and hooks.admitted == 1  # the OPTIONS
    else:
        assert hooks.new is None and hooks.admitted == 3


@pytest.mark.parametrize("shape", ["plain", "folded"])
async def test_only_new_invites_reach_the_hook_once(stack: Stack, shape: str) -> None:
    ep, _, peer, port, hooks = stack
    reshape = folded if shape == "folded" else (lambda data: data)
    peer.send(reshape(invite(peer.port, "admitted")), port)
    assert response(await peer.next()).status == 200  # the TU answers what the hook let through
    peer.send(reshape(invite(peer.port, "admitted")), port)  # its retransmission: its transaction's (RFC 6026 Accepted)
    peer.send(reshape(invite(peer.port, "in-dialog", to_tag="t1", branch="2")), port)  # a re-INVITE is never shed
    assert response(await peer.next()).status == 200
    peer.send(options(peer.port, 3), port)
    assert response(await peer.next()).call_id == "err-3@test"
    assert hooks.asked == 1 and ep.counters["stateless_responses"] == 0
    assert ep.requests_in["INVITE"] == 3  # each counted once, whichever way it was read
    if shape == "plain":
        assert hooks.new == ["INVITE"] and hooks.admitted == 3  # the retransmission, the re-INVITE, the OPTIONS
    else:
        assert hooks.new is None and hooks.admitted == 4


def register(port: int, call: str, extra: str = "", branch: str = "r1") -> bytes:
    return options(port, 0, "REGISTER", via=f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{branch};rport") \
        .replace(b"err-0@test", call.encode()).replace(b"Content-Length: 0\r\n", f"{extra}Content-Length: 0\r\n".encode())


async def test_a_new_register_is_challenged_without_a_transaction(stack: Stack) -> None:
    ep, _, peer, port, hooks = stack
    peer.send(register(peer.port, "reg-1"), port)
    first = response(await peer.next())
    assert (first.status, first.reason, first.get("WWW-Authenticate")) == (401, "Unauthorized", 'Digest realm="t", nonce="n1"')
    assert first.call_id == "reg-1" and first.cseq.method == "REGISTER" and first.get("Content-Length") == "0"
    assert first.to.tag is not None and first.to.tag.startswith("sl")
    assert (first.vias[0].param("received"), first.vias[0].param("rport")) == ("127.0.0.1", str(peer.port))
    assert not ep.layer.server and ep.layer.get_timer() is None  # nothing kept: Timer J holds nothing for it
    (glance,) = hooks.challenge_asked or []
    assert (glance.uri, glance.to_value, glance.call_id, glance.noted) == (
        "sip:switch@127.0.0.1", "<sip:switch@127.0.0.1>", "reg-1", frozenset())
    assert hooks.new == ["REGISTER"] and hooks.admitted == 0 and hooks.asked == 0  # not the INVITE's hook
    assert ep.requests_in["REGISTER"] == 1 and ep.responses_out[401] == 1 and ep.counters["stateless_responses"] == 1


async def test_a_retransmitted_register_gets_the_same_challenge_counted_once(stack: Stack) -> None:
    """Over UDP a phone repeats its REGISTER until an answer comes (0.5, 1.5, 3.5 s...): each
    copy is not another unanswered challenge against its address (the guard's limit)."""
    ep, _, peer, port, hooks = stack
    peer.send(register(peer.port, "reg-5"), port)
    first = await peer.next()
    peer.send(register(peer.port, "reg-5"), port)
    assert await peer.next() == first
    assert len(hooks.challenge_asked or []) == 1 and ep.counters["retransmissions"] == 1
    peer.send(register(peer.port, "reg-5", branch="r2"), port)  # a new transaction (its retry): asked again
    assert response(await peer.next()).status == 401 and len(hooks.challenge_asked or []) == 2
    assert ep.requests_in["REGISTER"] == 3 and ep.responses_out[401] == 2


@pytest.mark.parametrize("extra", ["Authorization: Digest username=\"1\"\r\n", "Require: path\r\n", "folded"])
async def test_a_register_with_credentials_or_requirements_takes_the_full_path(stack: Stack, extra: str) -> None:
    ep, _, peer, port, hooks = stack
    data = folded(register(peer.port, "reg-2")) if extra == "folded" else register(peer.port, "reg-2", extra)
    peer.send(data, port)
    assert response(await peer.next()).status == 200  # the TU's answer
    assert hooks.challenge_asked is None and ep.counters["stateless_responses"] == 0
    assert hooks.admitted == 1 and hooks.new is None and ep.requests_in["REGISTER"] == 1


async def test_a_register_the_hook_leaves_is_parsed_once_and_its_retransmission_is_its_transactions(stack: Stack) -> None:
    ep, _, peer, port, hooks = stack
    hooks.challenging = False  # e.g. for a domain the registrar does not serve
    peer.send(register(peer.port, "reg-3"), port)
    assert response(await peer.next()).status == 200
    peer.send(register(peer.port, "reg-3"), port)  # its retransmission: the transaction's answer, not the hook's
    assert response(await peer.next()).status == 200
    assert len(hooks.challenge_asked or []) == 1 and hooks.new == ["REGISTER"] and hooks.admitted == 1
    assert ep.requests_in["REGISTER"] == 2 and ep.counters["stateless_responses"] == 0


async def test_a_source_over_its_limit_is_dropped_before_the_hook(stack: Stack) -> None:
    ep, _, peer, port, hooks = stack
    hooks.refuse, hooks.allow_new = True, False
    peer.send(invite(peer.port, "refuse-2"), port)
    peer.send(options(peer.port, 6), port)
    assert response(await peer.next()).call_id == "err-6@test"  # the INVITE went unanswered
    assert ep.counters["dropped_limited"] == 1 and hooks.asked == 0 and hooks.new == ["INVITE"]
    peer.send(register(peer.port, "reg-4"), port)
    peer.send(options(peer.port, 7), port)
    assert response(await peer.next()).call_id == "err-7@test"  # the REGISTER went unanswered too
    assert ep.counters["dropped_limited"] == 2 and hooks.challenge_asked is None and hooks.new == ["INVITE", "REGISTER"]


async def test_the_stateless_tag_is_the_requests_own() -> None:
    ep = SipEndpoint(Tu(), timers=TimerConfig())
    one, two = (parse_message(invite(5062, "c", branch=b)) for b in ("1", "2"))
    assert isinstance(one, Request) and isinstance(two, Request)
    assert ep.stateless_tag(one) == ep.stateless_tag(parse_message(invite(5062, "c", branch="1")))  # type: ignore[arg-type]
    assert ep.stateless_tag(one) != ep.stateless_tag(two)
    assert ep.stateless_tag(one) != SipEndpoint(Tu(), timers=TimerConfig()).stateless_tag(one)  # not guessable across runs
