"""Sounds as RTP payloads: a WAV file read once, made 8 kHz mono 16-bit if it is not,
and cut into 20 ms G.711 frames (PCMU and PCMA, RFC 3551) ready to send.

Conversion is the standard library's ``audioop`` (``audioop-lts`` from Python 3.13 on,
where the standard one was removed).
"""

from __future__ import annotations

import functools
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
FRAME = 160  # samples in 20 ms
PCMU, PCMA = 0, 8


class SoundError(Exception):
    pass


@dataclass(frozen=True)
class Sound:
    """One sound, encoded for each G.711 payload type: ``frames[pt]`` is a list of
    160-byte payloads."""

    name: str
    frames: dict[int, tuple[bytes, ...]]

    @property
    def seconds(self) -> float:
        return len(self.frames[PCMU]) * FRAME / RATE

    def __len__(self) -> int:
        return len(self.frames[PCMU])


def linear(path: Path) -> bytes:
    """The file's audio as 8 kHz mono signed 16-bit little-endian PCM."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise SoundError(f"{path}: not a readable PCM WAV file ({exc})") from None
    if width == 1:  # 8-bit WAV is unsigned
        data = audioop.bias(data, 1, -128)
    if width != 2:
        data = audioop.lin2lin(data, width, 2)
    if channels == 2:
        data = audioop.tomono(data, 2, 0.5, 0.5)
    elif channels != 1:
        raise SoundError(f"{path}: {channels} channels; mono or stereo only")
    if rate != RATE:
        data, _ = audioop.ratecv(data, 2, 1, rate, RATE, None)
    return data


def encode(name: str, pcm: bytes) -> Sound:
    pcm += b"\0" * (-len(pcm) % (2 * FRAME))  # pad the last frame with silence
    ulaw, alaw = audioop.lin2ulaw(pcm, 2), audioop.lin2alaw(pcm, 2)
    cut = range(0, len(ulaw), FRAME)
    return Sound(name, {PCMU: tuple(ulaw[i:i + FRAME] for i in cut), PCMA: tuple(alaw[i:i + FRAME] for i in cut)})


def load(path: Path) -> Sound:
    """A WAV file as G.711 frames, read once per version of the file."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise SoundError(f"{path}: {exc.strerror}") from None
    return _load(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _load(path: Path, _mtime: int, _size: int) -> Sound:
    return encode(path.name, linear(path))


def decode(payload: bytes, pt: int) -> bytes:
    """G.711 back to 16-bit PCM (tests and prompts checks)."""
    return audioop.ulaw2lin(payload, 2) if pt == PCMU else audioop.alaw2lin(payload, 2)
