"""Media beyond two parties: what each source sent, 20 ms at a time, and what a listener
hears of several sources (call recording, supervisor whisper and barge, mailboxes).

Theory of operation
-------------------
A *source* is one leg's stream as it arrives: RTP packets of PCMU or PCMA (RFC 3551), any
packet time.  ``Source.feed`` decodes each voice payload to 16-bit linear samples and keeps
them in arrival order until they are taken; a duplicate or a packet older than the last one
kept (a sequence number up to ``SEQ_WINDOW`` behind: further back is a sender that
started again, RFC 3550 §A.1) is dropped, and so is every other payload type
(telephone-event, comfort noise).  The samples kept are bounded (``limit``): a sender
that runs fast, or a clock that stalled, costs the oldest samples, never an ever-growing
delay.

``Source.take`` hands out one 20 ms frame (160 samples) per tick of the caller's clock.
Packets and ticks both come every 20 ms but not in step, so a source that ran dry gives
silence and then waits until it holds ``PREBUFFER`` frames again before it plays on: a
little latency, once, rather than a gap every time two packets arrive between two ticks.

Where a listener hears one source the relay forwards that source's packets untouched (the
two-party path stays as it is); only where it hears more than one are frames decoded,
added with clipping (``mix``, ``audioop.add`` saturates) and encoded again (``encode``).
A recording is two listeners written side by side (``stereo``: the caller's side left, the
other party right), and ``Recording.due`` gives every frame the wall of time owes since it
started, so a late timer makes a burst of frames, not a shorter file.  A mono recording (a
voicemail message) also counts how long its end has been quiet (frames under ``QUIET_RMS``),
so the mailbox can end a message the caller stopped speaking into, and leave out the quiet
end.
Pure: packets, ticks and ``now`` in; samples out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

PCMU, PCMA = 0, 8
RATE = 8000
PTIME = 0.020
FRAME = 160  # samples in 20 ms
FRAME_BYTES = 2 * FRAME  # 16-bit linear
SILENCE = bytes(FRAME_BYTES)
PREBUFFER = 2  # frames a source holds again before it plays on after running dry
SEQ_WINDOW = 100  # RFC 3550 §A.1 MAX_MISORDER: a packet further behind the last is a sender started again
QUIET_RMS = 256  # a frame quieter than this (-42 dBFS) is silence: a line's hiss, no voice


def payload_of(packet: bytes) -> tuple[int, int, bytes] | None:
    """(payload type, sequence number, payload) of an RTP packet, or None if it is none."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    start = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # a header extension: 4 bytes, then its length in 32-bit words
        if len(packet) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(packet[start + 2:start + 4], "big")
    end = len(packet)
    if packet[0] & 0x20:  # padding: its length is the last octet
        end -= packet[-1]
    if end < start:
        return None
    return packet[1] & 0x7F, int.from_bytes(packet[2:4], "big"), packet[start:end]


def decode(payload: bytes, pt: int) -> bytes:
    return audioop.ulaw2lin(payload, 2) if pt == PCMU else audioop.alaw2lin(payload, 2)


def encode(samples: bytes, pt: int) -> bytes:
    return audioop.lin2ulaw(samples, 2) if pt == PCMU else audioop.lin2alaw(samples, 2)


def mix(frames: list[bytes]) -> bytes:
    """Frames of 16-bit samples added, clipped at the extremes."""
    if not frames:
        return SILENCE
    out = frames[0]
    for frame in frames[1:]:
        out = audioop.add(out, frame, 2)
    return out


def stereo(left: bytes, right: bytes) -> bytes:
    """Two mono frames interleaved as one stereo frame (left first, as WAV orders them)."""
    return audioop.add(audioop.tostereo(left, 2, 1, 0), audioop.tostereo(right, 2, 0, 1), 2)


@dataclass
class Source:
    """One leg's voice as it arrived, waiting to be taken 20 ms at a time."""

    limit: int = 5 * FRAME_BYTES  # bytes of samples kept at most (100 ms)
    samples: bytearray = field(default_factory=bytearray)
    last_seq: int | None = None
    playing: bool = False
    received: int = 0  # voice packets taken in
    dropped: int = 0  # duplicates, late and non-voice packets
    overflow: int = 0  # bytes of samples let go because the source ran ahead
    underruns: int = 0  # frames given as silence

    def feed(self, packet: bytes) -> bool:
        """Take a packet in; False if it is not voice, or a duplicate or late one."""
        parsed = payload_of(packet)
        if parsed is None or parsed[0] not in (PCMU, PCMA):
            self.dropped += 1
            return False
        pt, seq, payload = parsed
        if self.last_seq is not None and (self.last_seq - seq) & 0xFFFF <= SEQ_WINDOW:  # the same one, or late
            self.dropped += 1
            return False
        self.last_seq = seq
        self.received += 1
        self.samples += decode(payload, pt)
        excess = len(self.samples) - self.limit
        if excess > 0:
            excess += excess % 2
            del self.samples[:excess]
            self.overflow += excess
        return True

    def take(self) -> bytes:
        """The next 20 ms of this source's voice, or silence."""
        need = FRAME_BYTES * (1 if self.playing else PREBUFFER)
        if len(self.samples) < need:
            self.playing = False
            self.underruns += 1
            return SILENCE
        self.playing = True
        frame = bytes(self.samples[:FRAME_BYTES])
        del self.samples[:FRAME_BYTES]
        return frame


@dataclass
class Recording:
    """One call's two sides, made into stereo frames as time passes: ``left`` is the caller
    side (what leg "a" sends), ``right`` the other party (leg "b"); or, ``mono``, the caller
    side alone."""

    started: float
    left: Source = field(default_factory=lambda: Source(limit=50 * FRAME_BYTES))
    right: Source = field(default_factory=lambda: Source(limit=50 * FRAME_BYTES))
    frames: int = 0  # 20 ms periods gone by since it started
    written: int = 0  # stereo frames given out (not while paused)
    paused: bool = False  # while paused (a parked call) time passes without frames
    mono: bool = False  # only the caller side, one channel (a voicemail message)
    quiet: int = 0  # mono: the frames given out since the caller last made a sound
    voiced: bool = False  # mono: the caller made a sound at all

    def feed(self, leg: str, packet: bytes) -> None:
        if not self.paused and not (self.mono and leg != "a"):
            (self.left if leg == "a" else self.right).feed(packet)

    def due(self, now: float) -> bytes:
        """The stereo frames owed up to ``now`` (16-bit, left/right interleaved)."""
        owed = int((now - self.started) / PTIME + 1e-9) - self.frames
        if owed <= 0:
            return b""
        self.frames += owed
        if self.paused:
            return b""
        self.written += owed
        if self.mono:
            frames = [self.left.take() for _ in range(owed)]
            for frame in frames:
                if audioop.rms(frame, 2) < QUIET_RMS:
                    self.quiet += 1
                else:
                    self.quiet, self.voiced = 0, True
            return b"".join(frames)
        return b"".join(stereo(self.left.take(), self.right.take()) for _ in range(owed))

    def pause(self, paused: bool) -> None:
        """Stop (or go on) writing: what the sides send meanwhile is not kept."""
        self.paused = paused
        if paused:
            self.left.samples.clear()
            self.right.samples.clear()

    @property
    def seconds(self) -> float:
        return self.written * PTIME

    @property
    def quiet_seconds(self) -> float:
        """Mono: how long the end of what was written has been silence."""
        return self.quiet * PTIME
