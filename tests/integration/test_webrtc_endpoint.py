"""A browser's leg in the media endpoint, on loopback sockets: a Python stand-in for a browser
(ICE check signed with the switch's password, DTLS client with its own certificate, SRTP by
libsrtp) on leg a, a plain RTP phone on leg b.  Its SRTP reaches the phone as the plain RTP
it protected; the phone's RTP and a prompt reach the browser protected; nothing reaches it
before its check, and a wrong fingerprint gives no keys."""

from __future__ import annotations

import asyncio
import socket

from aioice import stun
from OpenSSL import SSL

from softswitch.media.audio import encode as encode_sound
from softswitch.media.endpoint import MediaEndpoint, MediaSession
from softswitch.media.mix import PCMU
from softswitch.media.ports import PortPool
from softswitch.media.webrtc import IceLite, kind

from ..unit.test_webrtc import browser, client_sessions, rtp
from .test_player import phone

WAIT = 5.0


async def until(predicate, what: str):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(WAIT):
        while not (found := predicate()):
            await asyncio.sleep(0.01)
    return found


def received(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(2048))
        except BlockingIOError:
            return out


def check(ice: IceLite) -> bytes:
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{ice.ufrag}:brws"
    request.attributes["ICE-CONTROLLING"] = 1
    request.attributes["USE-CANDIDATE"] = None
    request.add_message_integrity(ice.password.encode())
    return bytes(request)


async def connect(sock: socket.socket, port: int, client: SSL.Connection, ice: IceLite) -> None:
    """ICE check, then the DTLS handshake over the socket, as a browser does."""
    sock.sendto(check(ice), ("127.0.0.1", port))
    answers = await until(lambda: received(sock), "the check's answer")
    assert kind(answers[0]) == "stun" and stun.parse_message(answers[0]).message_class == stun.Class.RESPONSE
    for _ in range(20):
        try:
            client.do_handshake()
            return
        except SSL.WantReadError:
            pass
        while True:
            try:
                sock.sendto(client.bio_read(65536), ("127.0.0.1", port))
            except SSL.WantReadError:
                break
        for datagram in await until(lambda: received(sock), "DTLS"):
            client.bio_write(datagram)


def open_call(media: MediaEndpoint, call_id: str) -> tuple[MediaSession, socket.socket, socket.socket]:
    """A call's session with a plain desk phone on leg b; the socket the browser will use."""
    session = media.open(call_id)
    desk, web = phone(), phone()
    media.set_announced(call_id, "b", desk.getsockname())
    return session, desk, web


async def test_a_browser_leg_speaks_srtp_and_a_phone_leg_plain_rtp() -> None:
    media = MediaEndpoint("127.0.0.1", PortPool(30800, 30900))
    try:
        session, desk, web = open_call(media, "call-1")
        client, fingerprint = browser()
        ice = media.webrtc("call-1", "a", None)  # the offer came first; its fingerprint later
        assert ice is not None and media.webrtc("call-1", "a", fingerprint) is ice
        port = session.ports["a"]

        desk.sendto(rtp(1), ("127.0.0.1", session.ports["b"]))  # nobody to send to yet: no ICE
        await asyncio.sleep(0.1)
        assert received(web) == []

        await connect(web, port, client, ice)
        sending, receiving = client_sessions(client)
        await until(lambda: session.webrtc["a"].dtls.established, "the keys")

        for seq in range(1, 4):
            web.sendto(sending.protect(rtp(seq, bytes([seq]) * 160)), ("127.0.0.1", port))
        got = await until(lambda: received(desk), "the browser's voice at the desk phone")
        assert got[0] == rtp(1, bytes([1]) * 160)  # plain, as the browser made it before protecting

        desk.sendto(rtp(50, b"\x55" * 160), ("127.0.0.1", session.ports["b"]))
        (protected,) = await until(lambda: received(web), "the phone's voice at the browser")
        assert protected != rtp(50, b"\x55" * 160) and receiving.unprotect(protected) == rtp(50, b"\x55" * 160)

        web.sendto(rtp(9), ("127.0.0.1", port))  # plain RTP on a browser's port: dropped
        await asyncio.sleep(0.1)
        assert received(desk) == [] and session.webrtc["a"].dropped >= 1

        done = asyncio.Event()
        media.announce("call-1", "a", [encode_sound("tone", bytes(320 * 5))], PCMU, done.set)  # a prompt, protected
        await until(done.is_set, "the prompt played")
        prompt = await until(lambda: received(web), "the prompt at the browser")
        plain = receiving.unprotect(prompt[0])
        assert plain[1] & 0x7F == PCMU
    finally:
        media.shutdown()
    assert media.pool.counters.in_use == 0


async def test_a_browser_whose_certificate_is_not_its_fingerprint_gets_nothing() -> None:
    media = MediaEndpoint("127.0.0.1", PortPool(30900, 31000))
    try:
        session, desk, web = open_call(media, "call-2")
        client, _ = browser()
        _, someone_else = browser()
        ice = media.webrtc("call-2", "a", someone_else)
        assert ice is not None
        await connect(web, session.ports["a"], client, ice)
        await until(lambda: session.webrtc["a"].dtls.failed, "the refusal")
        assert not session.webrtc["a"].dtls.established
        desk.sendto(rtp(1), ("127.0.0.1", session.ports["b"]))
        await asyncio.sleep(0.1)
        assert received(web) == []  # no keys: nothing is sent to it
    finally:
        media.shutdown()
