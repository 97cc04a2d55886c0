"""Sounds as RTP payloads: a recording read once, made 8 kHz mono 16-bit if it is not,
and cut into 20 ms G.711 frames (PCMU and PCMA, RFC 3551) ready to send.

PCM WAV is read and converted with the standard library's ``wave`` and ``audioop``
(``audioop-lts`` from Python 3.13 on, where the standard one was removed); other
formats (MP3, FLAC, Ogg Vorbis) are decoded and resampled by ``miniaudio``.
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
    except (EOFError, wave.Error):
        return decoded(path)  # not PCM WAV: MP3, FLAC, Ogg Vorbis ...
    except OSError as exc:
        raise SoundError(f"{path}: {exc.strerror or exc}") from None
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


def decoded(path: Path) -> bytes:
    """A compressed recording (MP3, FLAC, Ogg Vorbis, or WAV that is not PCM) decoded and
    resampled to 8 kHz mono 16-bit by miniaudio."""
    import miniaudio

    try:
        sound = miniaudio.decode_file(str(path), output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1,
                                      sample_rate=RATE)
    except (miniaudio.DecodeError, OSError) as exc:
        raise SoundError(f"{path}: not a sound file this switch reads (WAV, MP3, FLAC, Ogg Vorbis): {exc}") from None
    return bytes(sound.samples.tobytes())


def describe(path: Path) -> tuple[float, str]:
    """(seconds, format) of a recording, without decoding it all; ``SoundError`` if unreadable."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width, frames = wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes()
        shape = f"WAV {rate} Hz {'mono' if channels == 1 else f'{channels} channels'} {8 * width}-bit"
        if channels > 2:
            raise SoundError(f"{path}: {channels} channels; mono or stereo only")
        return (frames / rate if rate else 0.0), shape
    except (EOFError, wave.Error):
        pass
    except OSError as exc:
        raise SoundError(f"{path}: {exc.strerror or exc}") from None
    import miniaudio

    try:
        info = miniaudio.get_file_info(str(path))
    except (miniaudio.DecodeError, OSError) as exc:
        raise SoundError(f"{path}: not a sound file this switch reads (WAV, MP3, FLAC, Ogg Vorbis): {exc}") from None
    layout = "mono" if info.nchannels == 1 else f"{info.nchannels} channels"
    return float(info.duration), f"{info.file_format.name} {info.sample_rate} Hz {layout}"


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
