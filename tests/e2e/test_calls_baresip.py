"""Two baresip phones, acme 101 and 102: 101 calls 102, 102 answers by itself, each side's WAV
audio reaches the other through the switch (checked in what each phone decoded)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .audio import audible_seconds, read_samples, write_tone
from .harness import Switch, calls, free_port, require_tool


def baresip_home(home: Path, ext: str, switch: Switch, tone: Path) -> Path:
    home.mkdir(parents=True)
    (home / "config").write_text(
        "module_path /usr/lib/baresip/modules\n"
        f"sip_listen 127.0.0.1:{free_port()}\n"
        "net_interface 127.0.0.1\n"
        "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
        "module_app account.so\nmodule_app menu.so\n"
        f"audio_source aufile,{tone}\n"
        "audio_player aubridge,nowhere\n"  # no sound card: sndfile records what was decoded
        f"snd_path {home}\n"
    )
    (home / "accounts").write_text(
        f'<sip:{ext}@acme.example>;auth_pass=acme-{ext}-secret;outbound="sip:127.0.0.1:{switch.port}";answermode=auto\n'
    )
    return home


def test_baresip_101_calls_102_audio_both_ways(switch: Switch, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    low = write_tone(tmp_path / "440.wav", 440)
    high = write_tone(tmp_path / "1000.wav", 1000)
    h101 = baresip_home(tmp_path / "b101", "101", switch, low)
    h102 = baresip_home(tmp_path / "b102", "102", switch, high)
    with open(tmp_path / "102.log", "w") as log102, open(tmp_path / "101.log", "w") as log101:
        callee = subprocess.Popen([baresip, "-f", str(h102), "-t", "14"], stdout=log102, stderr=subprocess.STDOUT)
        try:
            switch.wait_for(lambda: switch.registrations("acme"), what="102 registered")
            caller = subprocess.Popen([baresip, "-f", str(h101), "-t", "8", "-e", "/dial 102"], stdout=log101, stderr=subprocess.STDOUT)
            caller.wait(30)
        finally:
            callee.wait(30)
    heard_by_101 = read_samples(next(h101.glob("dump-*-dec.wav")))
    heard_by_102 = read_samples(next(h102.glob("dump-*-dec.wav")))
    # Each side heard the other's tone for most of the call, and never its own.
    assert audible_seconds(heard_by_101, 1000) >= 4, (tmp_path / "101.log").read_text()[-2000:]
    assert audible_seconds(heard_by_102, 440) >= 4, (tmp_path / "102.log").read_text()[-2000:]
    assert audible_seconds(heard_by_101, 440) == 0 and audible_seconds(heard_by_102, 1000) == 0

    rows = switch.wait_for(lambda: calls(switch), what="the call in the history")
    (row,) = rows
    assert (row["caller"], row["callee"], row["disposition"], row["hangup_by"]) == ("101", "102", "answered", "caller")
    assert row["caller_device"].startswith("baresip") and row["callee_device"].startswith("baresip")
    assert int(row["a_packets_in"]) > 200 and int(row["b_packets_in"]) > 200
    listing = switch.cli("calls", "--config", str(switch.config_path), "--account", "acme").stdout
    assert row["id"] in listing and "answered" in listing
