"""A supervisor on a call in the media endpoint, on loopback sockets: three phones with three
tones, a recorded call, the supervisor's mix, whisper to the agent, and its ports let go."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

from softswitch.media.endpoint import MediaEndpoint
from softswitch.media.mix import PCMA, PCMU, decode, encode, payload_of
from softswitch.media.ports import PortPool

from ..e2e.audio import power, read_stereo
from .test_player import phone
from .test_recorder import rtp, tone

TONES = {"a": 440.0, "b": 700.0, "m": 1000.0}


def heard(sock: socket.socket) -> list[int]:
    """What arrived at a phone so far, decoded."""
    pcm = b""
    while True:
        try:
            data = sock.recv(2048)
        except BlockingIOError:
            break
        parsed = payload_of(data)
        if parsed is not None and parsed[0] in (PCMU, PCMA):
            pcm += decode(parsed[2], parsed[0])
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


async def talk(phones: dict[str, socket.socket], ports: dict[str, int], packets: int, start: int = 0) -> None:
    for i in range(start, start + packets):
        for leg, sock in phones.items():
            pt = PCMA if leg == "b" else PCMU
            sock.sendto(rtp(i, encode(tone(TONES[leg], i), pt), pt), ("127.0.0.1", ports[leg]))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)


async def test_the_supervisor_hears_both_then_whispers_to_the_agent_and_leaves(tmp_path: Path) -> None:
    media = MediaEndpoint("127.0.0.1", PortPool(30600, 30700))
    keys: list[tuple[str, str, str]] = []
    media.on_digit = lambda *pressed: keys.append(pressed)
    try:
        session = media.open("call-1")
        phones = {leg: phone() for leg in TONES}
        for sock in phones.values():
            sock.setblocking(False)
        media.set_announced("call-1", "a", phones["a"].getsockname())
        media.set_announced("call-1", "b", phones["b"].getsockname())
        assert media.record("call-1", tmp_path / "call-1.wav")
        ports = media.monitor("call-1", "b", "listen", {"a": PCMU, "b": PCMA})
        assert ports is not None and media.monitor("call-1", "b", "barge", {}) is None  # one at a time
        media.set_announced("call-1", "m", phones["m"].getsockname(), 101)
        media.monitor_mode("call-1", "listen", {"m": PCMU})
        await talk(phones, {**session.ports, "m": ports.rtp}, 50)
        got = {leg: heard(sock) for leg, sock in phones.items()}
        assert power(got["m"], 440) > 1e5 and power(got["m"], 700) > 1e5  # both parties, mixed
        assert power(got["a"], 1000) < 1e3 and power(got["b"], 1000) < 1e3  # nobody hears the supervisor
        assert power(got["a"], 700) > 1e5 and power(got["b"], 440) > 1e5  # the parties as before

        media.monitor_mode("call-1", "whisper")
        phones["m"].sendto(struct.pack("!BBHII", 0x80, 101, 999, 5, 0x5EC) + bytes([6, 0x0A, 0, 160]),
                           ("127.0.0.1", ports.rtp))  # the supervisor presses 6 (RFC 4733)
        await talk(phones, {**session.ports, "m": ports.rtp}, 50, start=50)
        got = {leg: heard(sock) for leg, sock in phones.items()}
        assert power(got["b"], 1000) > 1e5 and power(got["b"], 440) > 1e5  # the agent hears both
        assert power(got["a"], 1000) < 1e3 and power(got["a"], 700) > 1e5  # the caller only the agent
        assert keys == [("call-1", "m", "6")]

        free = media.pool.free
        media.end_monitor("call-1")
        assert "m" not in session.ports and "m" not in session.relay.legs and not session.relay.legs["b"].mixed
        assert media.pool.free == free + 1 and ("m", False) not in session.sockets
        await talk({k: v for k, v in phones.items() if k != "m"}, session.ports, 25, start=100)
        got = {leg: heard(sock) for leg, sock in phones.items()}
        assert power(got["b"], 1000) < 1e3 and power(got["b"], 440) > 1e5 and got["m"] == []
        file = media.stop_recording("call-1")  # the recording went on throughout, its two sides only
        assert file is not None
    finally:
        media.shutdown()
    left, right, _ = read_stereo(tmp_path / "call-1.wav")
    assert power(left, 440) > 100 * power(left, 1000) and power(right, 700) > 100 * power(right, 1000)
