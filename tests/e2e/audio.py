"""Test tones as WAV files and a check of which tone a recording holds (Goertzel)."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000


def write_tone(path: Path, freq: float, seconds: float = 10.0, amplitude: int = 8000, *, then_silence: float = 0.0) -> Path:
    """A mono 8 kHz WAV of ``seconds`` of a sine, then ``then_silence`` seconds of nothing."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(
            struct.pack("<h", int(amplitude * math.sin(2 * math.pi * freq * i / RATE))) for i in range(int(RATE * seconds))
        ) + bytes(2 * int(RATE * then_silence)))
    return path


def read_samples(path: Path) -> list[int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        data = w.readframes(w.getnframes())
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def split_stereo(data: bytes) -> tuple[list[int], list[int]]:
    """Interleaved 16-bit stereo samples as the left and the right channel."""
    both = struct.unpack(f"<{len(data) // 2}h", data)
    return list(both[0::2]), list(both[1::2])


def read_stereo(path: Path) -> tuple[list[int], list[int], float]:
    """A call recording (8 kHz 16-bit stereo WAV): its left and right channels, and its length in seconds."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        left, right = split_stereo(w.readframes(w.getnframes()))
        return left, right, w.getnframes() / RATE


def power(samples: list[int], freq: float, rate: int = RATE) -> float:
    """Goertzel: the energy of ``freq`` in ``samples``, normalised by length."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(1, len(samples)) ** 2


def audible_seconds(samples: list[int], freq: float, rate: int = RATE, threshold: float = 1000.0) -> float:
    """How many 100 ms windows carry ``freq`` clearly (its power far above the other tones'),
    in seconds."""
    window = rate // 10
    count = 0
    for start in range(0, len(samples) - window, window):
        chunk = samples[start:start + window]
        if power(chunk, freq, rate) > threshold:
            count += 1
    return count / 10
