"""Calls being recorded (media/recorder.py): a voicemail message whose caller went quiet is
told once, and its quiet end is left out."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import pytest

from softswitch.media.mix import FRAME, PCMU, encode
from softswitch.media.recorder import KEEP_QUIET, Recorders

from .test_mix import rtp, tone


class Clock:
    """The loop as the recorders use it: its time, and timers that the test runs itself."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Any) -> Any:
        return self

    def cancel(self) -> None:
        pass


def recorders() -> tuple[Clock, Recorders, list[str]]:
    clock = Clock()
    recorders = Recorders(clock)  # type: ignore[arg-type]
    told: list[str] = []
    recorders.on_silence = told.append
    return clock, recorders, told


def test_a_message_whose_caller_went_quiet_is_told_once_and_its_quiet_end_left_out(tmp_path: Path) -> None:
    clock, recorders_, told = recorders()
    recording = recorders_.start("c1", tmp_path / "m.wav", mono=True, silence=2.0)
    for i in range(50):  # 1 s of voice, then nothing
        recording.feed("a", rtp(i, encode(tone(440, 1, start=i * FRAME), PCMU)))
    for step in range(1, 41):  # 4 s, a tick every 0.1 s
        clock.now = step / 10
        recorders_._tick()
        assert told == ([] if clock.now < 3.0 - 1e-9 else ["c1"])  # 2 s quiet after 1 s of voice; once
    file = recorders_.stop("c1")
    assert file is not None and file.voiced and file.seconds == pytest.approx(1.0 + KEEP_QUIET)
    with wave.open(str(file.path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getnframes() == int((1.0 + KEEP_QUIET) * 8000)


def test_a_message_of_silence_is_said_so_and_a_call_recording_is_not_cut(tmp_path: Path) -> None:
    clock, recorders_, told = recorders()
    recorders_.start("c1", tmp_path / "m.wav", mono=True, silence=None)
    clock.now = 3.0
    recorders_._tick()
    file = recorders_.stop("c1")
    assert told == [] and file is not None and not file.voiced and file.seconds == pytest.approx(KEEP_QUIET)

    recorders_.start("c2", tmp_path / "call.wav", silence=2.0)  # stereo: a call's recording
    clock.now = 6.0
    recorders_._tick()
    file = recorders_.stop("c2")
    assert told == [] and file is not None and file.voiced and file.seconds == pytest.approx(3.0)


def test_a_failing_silence_hook_stops_no_recording(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock, recorders_, _ = recorders()
    armed: list[float] = []
    clock.call_later = lambda delay, callback: armed.append(delay) or clock  # type: ignore[method-assign]

    def broken(session_id: str) -> None:
        raise RuntimeError("injected: the B2BUA failed on a message's silence")

    recorders_.on_silence = broken
    recorders_.start("c1", tmp_path / "m.wav", mono=True, silence=0.5)
    recorders_.start("c2", tmp_path / "call.wav")
    for step in range(1, 11):
        clock.now = step / 10
        recorders_._tick()
    assert len(armed) == 11  # armed at the start and again after every tick, the failing one too
    assert any("acting on its caller's silence failed" in r.getMessage() for r in caplog.records)
    assert recorders_.stop("c1") is not None and recorders_.stop("c2") is not None
