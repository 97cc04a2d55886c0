"""Sounds played into calls by the media endpoint, on loopback sockets: RTP framing
(RFC 3550 §5.1), 20 ms pacing, one music source fanned out, prompts played once."""

from __future__ import annotations

import asyncio
import socket
import struct

from softswitch import sounds
from softswitch.media.audio import FRAME, PCMA, PCMU, decode, encode, load
from softswitch.media.endpoint import MediaEndpoint
from softswitch.media.ports import PortPool


def phone() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def collect(sock: socket.socket, seconds: float) -> list[bytes]:
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            await asyncio.sleep(0.005)
    return got


def header(packet: bytes) -> tuple[int, int, int, int, int]:
    first, second, seq, timestamp, ssrc = struct.unpack("!BBHII", packet[:12])
    return first >> 6, second & 0x7F, seq, timestamp, second >> 7


async def test_music_is_paced_numbered_shared_and_mutes_the_other_leg() -> None:
    media = MediaEndpoint("127.0.0.1", PortPool(30000, 30100))
    try:
        one, two = media.open("call-1"), media.open("call-2")
        a1, a2, b1 = phone(), phone(), phone()
        media.set_announced("call-1", "a", a1.getsockname())
        media.set_announced("call-1", "b", b1.getsockname())
        media.set_announced("call-2", "a", a2.getsockname())
        # Every 20 ms frame of this sound is different, so a frame tells the position.
        music = encode("steps", b"".join(decode(bytes([k]), PCMU) * FRAME for k in range(1, 128)))
        media.play_music("call-1", "a", music, PCMU)
        media.play_music("call-2", "a", music, PCMU)
        assert len(media.player.music) == 1  # one source for both listeners
        # The other leg's phone talks: while music plays, nothing of it reaches leg a.
        b1.sendto(b"\x80\x00" + bytes(170), ("127.0.0.1", one.ports["b"]))
        got1, got2 = await asyncio.gather(collect(a1, 1.0), collect(a2, 1.0))
        assert 45 <= len(got1) <= 52, len(got1)  # 50 packets a second
        assert all(len(p) == 172 for p in got1 + got2)
        versions_pts = {(v, pt) for v, pt, *_ in map(header, got1)}
        assert versions_pts == {(2, PCMU)}
        seqs = [header(p)[2] for p in got1]
        stamps = [header(p)[3] for p in got1]
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:], strict=False))
        assert all((b - a) & 0xFFFFFFFF == 160 for a, b in zip(stamps, stamps[1:], strict=False))
        assert header(got1[0])[4] == 1 and not any(header(p)[4] for p in got1[1:])  # marker on the first only
        # Both legs hear the same moment of the same music.
        positions1 = [music.frames[PCMU].index(p[12:]) for p in got1]
        positions2 = [music.frames[PCMU].index(p[12:]) for p in got2]
        assert positions1 == list(range(positions1[0], positions1[0] + len(got1)))
        assert abs(positions1[-1] - positions2[-1]) <= 1
        assert one.relay.legs["a"].muted == 1
        media.stop_playing("call-1", "a")
        assert len(media.player.music) == 1 and not one.relay.legs["a"].playing
        media.stop_playing("call-2", "a")
        assert media.player.music == {}
        await collect(a1, 0.1)  # what was in flight
        assert await collect(a1, 0.2) == []
        assert two.relay.legs["a"].muted == 0
    finally:
        media.shutdown()


async def test_prompts_play_once_in_order_then_report_done() -> None:
    media = MediaEndpoint("127.0.0.1", PortPool(30100, 30200))
    try:
        media.open("call")
        a = phone()
        media.set_announced("call", "a", a.getsockname())
        parts = [load(sounds.prompt(name)) for name in ["parked-at", *sounds.spoken_code("*801")]]
        done = asyncio.Event()
        media.announce("call", "a", parts, PCMA, done.set)
        total = sum(len(p) for p in parts)
        seconds = total * 0.02
        got = await collect(a, seconds + 0.5)
        await asyncio.wait_for(done.wait(), 1.0)
        assert len(got) == total
        assert [p[12:] for p in got] == [f for part in parts for f in part.frames[PCMA]]
        assert {header(p)[1] for p in got} == {PCMA}
        assert not media.sessions["call"].relay.legs["a"].playing
    finally:
        media.shutdown()
