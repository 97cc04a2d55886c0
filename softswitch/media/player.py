"""Playing sounds into calls: music on hold and spoken prompts, as RTP from the relay.

Theory of operation
-------------------
A phone hears a sound on the leg it is on: the packets leave from that leg's RTP
socket (the port the phone sends to, so a phone that latches on its source sees
nothing change) towards where the relay would send that leg's audio.  While a
leg is played to, the relay drops what the other leg sends it.

Music is a *source*: one position in one sound, advanced every 20 ms by one
timer, and fanned out to every leg listening, each packet with that leg's own
SSRC, sequence number and timestamp (RFC 3550 §5.1) and its payload type (PCMU or
PCMA, whichever the leg's session uses).  A hundred parked calls on the default
music cost one timer, not a hundred.  A prompt is played to one leg once, then
reports that it is done.

The timer keeps to the 20 ms grid of the loop's clock; one that wakes late sends
the frame it owes and no burst to catch up; one that is more than 200 ms
behind starts a new grid.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .audio import PCMA, PCMU, Sound
from .relay import Leg

log = logging.getLogger(__name__)

PTIME = 0.020
_HEADER = struct.Struct("!BBHII")


class Sends(Protocol):
    """Where a leg's packets leave from: its socket, or a browser leg's protecting sender."""

    def sendto(self, data: bytes, address: Any, /) -> int: ...


@dataclass
class Output:
    """One leg listening: where its packets leave from and how they are numbered."""

    sock: Sends
    leg: Leg
    pt: int
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    seq: int = field(default_factory=lambda: random.getrandbits(16))
    timestamp: int = field(default_factory=lambda: random.getrandbits(32))
    first: bool = True

    def send(self, sound: Sound, index: int) -> None:
        frames = sound.frames[self.pt]
        self.send_payload(frames[index % len(frames)])

    def send_payload(self, payload: bytes) -> None:
        marker = 0x80 if self.first else 0
        self.first = False
        header = _HEADER.pack(0x80, marker | self.pt, self.seq, self.timestamp, self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + len(payload)) & 0xFFFFFFFF
        destination = self.leg.target(False)
        if destination is None:
            return
        try:
            self.sock.sendto(header + payload, destination)
        except OSError:
            pass  # a phone gone away; the call's own signalling ends it


class Ticker:
    """Calls ``tick`` every 20 ms on the loop's clock until ``stop``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: Callable[[], None]) -> None:
        self.loop = loop
        self.tick = tick
        self.next_at = loop.time()
        self.stopped = False
        self.handle: asyncio.TimerHandle | None = loop.call_at(self.next_at, self._run)

    def _run(self) -> None:
        self.handle = None
        try:
            self.tick()
        except Exception:
            log.exception("media tick failed")
        if self.stopped:
            return
        now = self.loop.time()
        self.next_at += PTIME
        if now - self.next_at > 0.2:
            self.next_at = now
        self.handle = self.loop.call_at(self.next_at, self._run)

    def stop(self) -> None:
        self.stopped = True
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class Music:
    """One sound looping, shared by every leg listening to it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sound: Sound, on_idle: Callable[[Music], None]) -> None:
        self.sound = sound
        self.position = 0
        self.outputs: dict[tuple[str, str], Output] = {}
        self.on_idle = on_idle
        self.ticker = Ticker(loop, self._tick)

    def _tick(self) -> None:
        for output in self.outputs.values():
            output.send(self.sound, self.position)
        self.position = (self.position + 1) % len(self.sound)

    def remove(self, key: tuple[str, str]) -> Output | None:
        output = self.outputs.pop(key, None)
        if not self.outputs:
            self.ticker.stop()
            self.on_idle(self)
        return output


class Announcement:
    """Sounds played one after the other to one leg, once."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sounds: list[Sound], output: Output,
                 on_done: Callable[[], None]) -> None:
        self.sounds = [s for s in sounds if len(s)]
        self.output = output
        self.on_done = on_done
        self.part = 0
        self.index = 0
        self.ticker = Ticker(loop, self._tick)

    def _tick(self) -> None:
        if self.part >= len(self.sounds):
            self.ticker.stop()
            self.on_done()
            return
        sound = self.sounds[self.part]
        self.output.send(sound, self.index)
        self.index += 1
        if self.index >= len(sound):
            self.part, self.index = self.part + 1, 0

    def stop(self) -> None:
        self.ticker.stop()


class Player:
    """Every sound being played by the media endpoint, by (session, leg)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.music: dict[int, Music] = {}  # id(sound) -> its source
        self.listening: dict[tuple[str, str], Music | Announcement] = {}

    def music_on(self, key: tuple[str, str], sock: Sends, leg: Leg, sound: Sound, pt: int) -> None:
        self.stop(key)
        source = self.music.get(id(sound))
        if source is None:
            source = self.music[id(sound)] = Music(self.loop, sound, self._idle)
        source.outputs[key] = Output(sock, leg, g711(pt))
        self.listening[key] = source
        leg.playing = True

    def announce(self, key: tuple[str, str], sock: Sends, leg: Leg, sounds: list[Sound], pt: int,
                 on_done: Callable[[], None]) -> None:
        self.stop(key)

        def done() -> None:
            if self.listening.get(key) is announcement:
                del self.listening[key]
                leg.playing = False
            on_done()

        announcement = Announcement(self.loop, sounds, Output(sock, leg, g711(pt)), done)
        self.listening[key] = announcement
        leg.playing = True

    def stop(self, key: tuple[str, str]) -> None:
        playing = self.listening.pop(key, None)
        if isinstance(playing, Music):
            output = playing.remove(key)
            if output is not None:
                output.leg.playing = False
        elif isinstance(playing, Announcement):
            playing.stop()
            playing.output.leg.playing = False

    def stop_session(self, session_id: str) -> None:
        for key in [k for k in self.listening if k[0] == session_id]:
            self.stop(key)

    def _idle(self, source: Music) -> None:
        if self.music.get(id(source.sound)) is source:
            del self.music[id(source.sound)]


def g711(pt: int | None) -> int:
    return pt if pt in (PCMU, PCMA) else PCMU
