"""Calls recorded by the media endpoint, on loopback sockets: two phones talking through the
relay with different tones, the WAV's channels; a disk that fills stops the recording, not
the call."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import struct
from pathlib import Path

import pytest

from softswitch.media.endpoint import MediaEndpoint, MediaSession
from softswitch.media.mix import FRAME, PCMA, PCMU, encode
from softswitch.media.ports import PortPool

from ..e2e.audio import power, read_stereo
from .test_player import phone


def tone(freq: float, index: int) -> bytes:
    return struct.pack(f"<{FRAME}h", *(int(8000 * math.sin(2 * math.pi * freq * (index * FRAME + i) / 8000))
                                       for i in range(FRAME)))


def rtp(seq: int, payload: bytes, pt: int) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, 160 * seq, 0x5EC) + payload


async def talk(a: socket.socket, b: socket.socket, ports: dict[str, int], packets: int, stray: socket.socket) -> None:
    """Each phone sends a 20 ms packet of its tone every 20 ms; a stranger sends noise to leg a."""
    for i in range(packets):
        a.sendto(rtp(i, encode(tone(440, i), PCMU), PCMU), ("127.0.0.1", ports["a"]))
        b.sendto(rtp(i, encode(tone(1000, i), PCMA), PCMA), ("127.0.0.1", ports["b"]))
        if i == 10:
            stray.sendto(rtp(99, encode(tone(2000, 0), PCMU), PCMU), ("127.0.0.1", ports["a"]))
        await asyncio.sleep(0.02)


def recorded_call(media: MediaEndpoint, call: str, path: Path) -> tuple[MediaSession, socket.socket, socket.socket, socket.socket]:
    """A call between two phones, recorded into ``path``; and a stranger's socket."""
    session = media.open(call)
    a, b, stranger = phone(), phone(), phone()
    media.set_announced(call, "a", a.getsockname())
    media.set_announced(call, "b", b.getsockname())
    assert media.record(call, path)
    return session, a, b, stranger


async def test_the_caller_is_recorded_left_and_the_other_party_right(tmp_path: Path) -> None:
    media = MediaEndpoint("127.0.0.1", PortPool(30200, 30300))
    try:
        session, a, b, stranger = recorded_call(media, "call-1", tmp_path / "call-1.wav")
        assert not media.record("call-1", tmp_path / "again.wav") and not media.record("nope", tmp_path / "x.wav")
        await talk(a, b, session.ports, 100, stranger)
        await asyncio.sleep(0.1)
        file = media.stop_recording("call-1")
        assert file is not None and file.path == tmp_path / "call-1.wav" and file.size == os.path.getsize(file.path)
        assert 1.9 <= file.seconds <= 2.6, file.seconds
        assert session.relay.legs["b"].sent_packets >= 90  # the relay went on as before
    finally:
        media.shutdown()
    left, right, _ = read_stereo(tmp_path / "call-1.wav")
    assert power(left, 440) > 100 * power(left, 1000) and power(right, 1000) > 100 * power(right, 440)
    assert power(left, 2000) < power(left, 440) / 100  # the stranger's packet is not the caller's voice


async def test_a_full_disk_stops_the_recording_and_not_the_call(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    media = MediaEndpoint("127.0.0.1", PortPool(30400, 30500))
    try:
        session, a, b, stranger = recorded_call(media, "call-2", tmp_path / "call-2.wav")
        media.recorders.active["call-2"].writer._file = open("/dev/full", "wb")  # noqa: SIM115  (every write fails: ENOSPC)
        with caplog.at_level(logging.ERROR, logger="softswitch.media.recorder"):
            await talk(a, b, session.ports, 75, stranger)
        assert "call-2" not in media.recorders.active and media.recorders.counters["recordings_failed"] == 1
        errors = [r for r in caplog.records if "recording of call call-2" in r.getMessage()]
        assert len(errors) == 1 and "No space left on device" in errors[0].getMessage()
        assert media.stop_recording("call-2") is None
        assert not (tmp_path / "call-2.wav").exists()  # no call row names it: not left behind for ever
        assert session.relay.legs["a"].sent_packets >= 60 and "call-2" in media.sessions  # the call went on
    finally:
        media.shutdown()
