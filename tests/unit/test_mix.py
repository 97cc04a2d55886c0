"""Sources, mixing and stereo recording (media/mix.py), and the growing WAV file
(media/wavfile.py), with tones checked per channel by Goertzel."""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path

import pytest

from softswitch.media.mix import (
    FRAME,
    FRAME_BYTES,
    PCMA,
    PCMU,
    SILENCE,
    Recording,
    Source,
    encode,
    mix,
    payload_of,
    stereo,
)
from softswitch.media.wavfile import WavWriter

from ..e2e.audio import power, split_stereo


def tone(freq: float, frames: int, amplitude: int = 8000, start: int = 0) -> bytes:
    """``frames`` 20 ms frames of a sine, 16-bit linear."""
    count = frames * FRAME
    return struct.pack(f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * freq * (start + i) / 8000))
                                       for i in range(count)))


def rtp(seq: int, payload: bytes, pt: int = PCMU, *, csrcs: int = 0, extension: bytes = b"", padding: int = 0) -> bytes:
    first = 0x80 | csrcs | (0x10 if extension else 0) | (0x20 if padding else 0)
    head = bytes([first, pt]) + (seq & 0xFFFF).to_bytes(2, "big") + (160 * seq).to_bytes(4, "big") + b"\0\0\0\1"
    head += b"\0\0\0\2" * csrcs
    if extension:
        head += b"\xbe\xde" + (len(extension) // 4).to_bytes(2, "big") + extension
    tail = bytes(padding - 1) + bytes([padding]) if padding else b""
    return head + payload + tail


def samples(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def test_payload_is_found_past_csrcs_extension_and_padding() -> None:
    body = encode(tone(440, 1), PCMU)
    assert payload_of(rtp(7, body)) == (PCMU, 7, body)
    assert payload_of(rtp(8, body, csrcs=2, extension=b"\x10\xff\0\0", padding=4)) == (PCMU, 8, body)
    assert payload_of(b"\x80\x00") is None and payload_of(b"\x40" + bytes(20)) is None  # short; not version 2
    assert payload_of(bytes([0xA0, 0]) + bytes(10) + bytes([200])) is None  # padding longer than the packet


@pytest.mark.parametrize("pt", [PCMU, PCMA])
def test_a_source_gives_back_its_voice_20_ms_at_a_time(pt: int) -> None:
    voice = tone(440, 10)
    source = Source()
    taken = []
    for i in range(10):  # a packet, then a tick: always one frame waiting after the first two
        assert source.feed(rtp(i, encode(voice[i * FRAME_BYTES:(i + 1) * FRAME_BYTES], pt)))
        taken.append(source.take())
    assert taken[0] == SILENCE and source.underruns == 1  # it waits for PREBUFFER frames once
    heard = b"".join(taken[1:]) + source.take()
    assert len(heard) == 10 * FRAME_BYTES and power(samples(heard), 440) > 100 * power(samples(heard), 1000)
    assert source.received == 10 and not source.samples


def test_duplicates_late_packets_and_other_payloads_are_dropped_and_a_restart_is_not() -> None:
    source = Source()
    frame = encode(tone(440, 1), PCMU)
    assert source.feed(rtp(100, frame)) and source.feed(rtp(101, frame))
    assert not source.feed(rtp(101, frame))  # the same again
    assert not source.feed(rtp(99, frame))  # late: its place was taken
    assert not source.feed(rtp(102, b"\x01\x00\x0a\xa0", pt=101))  # a key (RFC 4733) is not voice
    assert source.feed(rtp(40000, frame))  # a sender that started again
    assert not source.feed(rtp(39999, frame))  # behind that one
    assert (source.received, source.dropped) == (3, 4)


def test_a_source_that_runs_ahead_keeps_only_its_newest_samples() -> None:
    source = Source(limit=3 * FRAME_BYTES)
    for i in range(10):
        source.feed(rtp(i, encode(tone(440, 1), PCMU)))
    assert len(source.samples) == 3 * FRAME_BYTES and source.overflow == 7 * FRAME_BYTES


def test_mixing_adds_with_clipping() -> None:
    loud = struct.pack("<2h", 30000, -30000)
    assert samples(mix([loud, loud])) == [32767, -32768]
    assert mix([]) == SILENCE and mix([loud]) == loud
    both = mix([tone(440, 5, 4000), tone(1000, 5, 4000)])
    assert power(samples(both), 440) > 1000 and power(samples(both), 1000) > 1000


def test_stereo_puts_the_left_frame_first() -> None:
    left, right = struct.pack("<2h", 1, 2), struct.pack("<2h", -3, -4)
    assert samples(stereo(left, right)) == [1, -3, 2, -4]


def test_a_recording_has_the_caller_left_and_the_other_party_right() -> None:
    recording = Recording(started=100.0)
    out = b""
    for i in range(100):  # 2 s: caller 440 Hz, callee 1000 Hz, ticks now and then late
        now = 100.0 + (i + 1) * 0.02
        recording.feed("a", rtp(i, encode(tone(440, 1, start=i * FRAME), PCMU)))
        recording.feed("b", rtp(5000 + i, encode(tone(1000, 1, start=i * FRAME), PCMA)))
        if i % 7 != 3:
            out += recording.due(now)
    out += recording.due(102.0)
    assert recording.written == 100 and recording.seconds == pytest.approx(2.0) and len(out) == 100 * 2 * FRAME_BYTES
    left, right = split_stereo(out)
    assert power(left, 440) > 100 * power(left, 1000) and power(right, 1000) > 100 * power(right, 440)


def test_a_paused_recording_lets_time_pass_without_frames() -> None:
    recording = Recording(started=0.0)
    assert len(recording.due(1.0)) == 50 * 2 * FRAME_BYTES
    recording.pause(True)
    recording.feed("a", rtp(1, encode(tone(440, 1), PCMU)))
    assert recording.due(3.0) == b"" and not recording.left.samples
    recording.pause(False)
    assert len(recording.due(3.5)) == 25 * 2 * FRAME_BYTES and recording.seconds == pytest.approx(1.5)


def test_the_wav_file_is_readable_while_it_grows_and_private(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    writer = WavWriter(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    writer.write(stereo(tone(440, 50), tone(1000, 50)))
    writer.flush()
    writer.write(stereo(tone(440, 10), tone(1000, 10)))  # not flushed: a crash now loses these
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (2, 2, 8000, 50 * FRAME)
    writer.close()
    with wave.open(str(path), "rb") as wav:
        assert wav.getnframes() == 60 * FRAME
        left, right = split_stereo(wav.readframes(wav.getnframes()))
    assert power(left, 440) > 100 * power(left, 1000) and power(right, 1000) > 100 * power(right, 440)
    assert writer.seconds == pytest.approx(1.2)
    with pytest.raises(FileExistsError):
        WavWriter(path)  # never over another recording


def test_a_mono_recording_knows_how_long_its_caller_has_been_quiet() -> None:
    recording = Recording(started=0.0, mono=True)
    assert not recording.voiced
    for i in range(50):  # 1 s of voice
        recording.feed("a", rtp(i, encode(tone(440, 1, start=i * FRAME), PCMU)))
    recording.feed("b", rtp(1, encode(tone(1000, 1), PCMU)))  # the other side is not the message's
    assert len(recording.due(1.0)) == 50 * FRAME_BYTES
    assert recording.voiced and recording.quiet_seconds == 0
    for i in range(50, 100):  # then a line's hiss
        recording.feed("a", rtp(i, encode(tone(440, 1, amplitude=60, start=i * FRAME), PCMU)))
    recording.due(2.0)
    assert recording.quiet_seconds == pytest.approx(1.0)
    recording.due(2.5)  # and nothing at all
    assert recording.quiet_seconds == pytest.approx(1.5)


def test_a_cut_file_ends_where_it_was_cut(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "m.wav", channels=1)
    writer.write(tone(440, 50))
    writer.flush()
    writer.cut(25 * FRAME_BYTES)
    writer.write(tone(440, 5))
    writer.close()
    with wave.open(str(tmp_path / "m.wav"), "rb") as wav:
        assert wav.getnframes() == 30 * FRAME
    assert (tmp_path / "m.wav").stat().st_size == 44 + 30 * FRAME_BYTES and writer.seconds == pytest.approx(0.6)
