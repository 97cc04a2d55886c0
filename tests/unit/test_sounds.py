"""The shipped prompts and music on hold: present, in the format G.711 carries, audible, and
exactly what ``scripts/make_sounds`` makes from their texts."""

from __future__ import annotations

import array
import math
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from softswitch import sounds

ROOT = Path(__file__).resolve().parents[2]


def read(path: Path) -> tuple[wave._wave_params, array.array[int]]:
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        samples = array.array("h", w.readframes(params.nframes))
    return params, samples


def rms(samples: array.array[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) / 32768


@pytest.mark.parametrize("name", sorted(sounds.PROMPTS))
def test_prompt_is_8khz_mono_pcm_and_audible(name: str) -> None:
    params, samples = read(sounds.prompt(name))
    assert (params.framerate, params.nchannels, params.sampwidth, params.comptype) == (8000, 1, 2, "NONE")
    assert 0.2 <= params.nframes / 8000 <= 8.0
    assert rms(samples) > 0.03  # speech, not silence


def test_music_on_hold_loops_for_half_a_minute() -> None:
    params, samples = read(sounds.music_on_hold())
    assert (params.framerate, params.nchannels, params.sampwidth) == (8000, 1, 2)
    assert params.nframes / 8000 >= 25
    seconds = [samples[i:i + 8000] for i in range(0, len(samples) - 8000, 8000)]
    assert all(rms(second) > 0.02 for second in seconds)  # no silent second


def test_park_codes_are_read_digit_by_digit() -> None:
    assert sounds.spoken_code("*801") == ["star", "eight", "zero", "one"]
    assert all(sounds.prompt(word).exists() for word in sounds.spoken_code("*0123456789#"))
    with pytest.raises(KeyError):
        sounds.prompt("no-such-prompt")


def test_the_shipped_files_are_what_the_script_makes(tmp_path: Path) -> None:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.fail("espeak-ng and sox are needed (scripts/test installs them)")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "sounds.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    shipped = sorted(p.relative_to(sounds.HERE) for p in sounds.HERE.rglob("*.wav"))
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.wav"))
    assert shipped == made
    assert all((sounds.HERE / p).read_bytes() == (tmp_path / p).read_bytes() for p in shipped)


def test_the_beep_is_a_short_tone() -> None:
    params, samples = read(sounds.prompt("beep"))
    assert (params.framerate, params.nchannels, params.sampwidth) == (8000, 1, 2)
    assert 0.2 <= params.nframes / 8000 <= 0.3 and rms(samples) > 0.2
