"""Make the switch's sounds (``softswitch/sounds``) from their texts: espeak-ng speaks each
prompt, sox turns it into 8 kHz mono 16-bit PCM; the default music on hold is a slow
arpeggio of sine tones made by sox.  Both programs give the same bytes on every run.

    scripts/make_sounds              # all of them, into softswitch/sounds
    scripts/make_sounds --out DIR    # elsewhere (the tests compare the two)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from softswitch.sounds import HERE, PROMPTS, RATE, TONES, music_on_hold, prompt

VOICE = ["-v", "en-us", "-s", "150"]
PCM = ["-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
# A-minor, C-major, F-major, G-major arpeggios (Hz), 0.45 s a note: about 29 s a loop.
CHORDS = [(220.0, 261.63, 329.63, 440.0), (261.63, 329.63, 392.0, 523.25),
          (174.61, 220.0, 261.63, 349.23), (196.0, 246.94, 293.66, 392.0)]
NOTE_S = 0.45


def speak(text: str, out: Path, tmp: Path) -> None:
    raw = tmp / "raw.wav"
    subprocess.run(["espeak-ng", *VOICE, "-w", str(raw), text], check=True)
    # Trim leading/trailing silence, leave 0.1 s after, normalise to -3 dBFS.
    subprocess.run(["sox", "-R", "-D", str(raw), *PCM, str(out), "silence", "1", "0.02", "0.5%", "reverse",
                    "silence", "1", "0.02", "0.5%", "reverse", "pad", "0", "0.1", "gain", "-n", "-3"], check=True)


def music(out: Path, tmp: Path) -> None:
    notes: list[str] = []
    for repeat in range(4):
        for chord in CHORDS:
            for i, freq in enumerate(chord):
                note = tmp / f"n{repeat}-{len(notes)}.wav"
                subprocess.run(["sox", "-R", "-D", "-n", *PCM, str(note), "synth", str(NOTE_S), "sine", f"{freq:.2f}",
                                "fade", "q", "0.03", str(NOTE_S), "0.2", "vol", str(0.35 + 0.05 * i)], check=True)
                notes.append(str(note))
    subprocess.run(["sox", "-R", "-D", *notes, *PCM, str(out), "gain", "-n", "-6"], check=True)


def tone(freq: float, seconds: float, out: Path) -> None:
    subprocess.run(["sox", "-R", "-D", "-n", *PCM, str(out), "synth", str(seconds), "sine", f"{freq:.2f}",
                    "fade", "q", "0.01", str(seconds), "0.01", "vol", "0.5"], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="where the prompts/ and moh/ folders go")
    out = parser.parse_args().out
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for key, text in PROMPTS.items():
            target = out / prompt(key).relative_to(HERE)
            target.parent.mkdir(parents=True, exist_ok=True)
            speak(text, target, tmp)
        for key, (freq, seconds) in TONES.items():
            target = out / prompt(key).relative_to(HERE)
            target.parent.mkdir(parents=True, exist_ok=True)
            tone(freq, seconds, target)
        moh = out / music_on_hold().relative_to(HERE)
        moh.parent.mkdir(parents=True, exist_ok=True)
        music(moh, tmp)
    print(f"{len(PROMPTS)} prompts, {len(TONES)} tones and the music on hold written under {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
