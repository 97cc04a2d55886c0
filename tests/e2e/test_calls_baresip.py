"""Two baresip phones, acme 101 and 102: 101 calls 102, 102 answers by itself, each side's WAV
audio reaches the other through the switch (checked in what each phone decoded)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .audio import audible_seconds, read_samples, write_tone
from .harness import Switch, admin, calls, end_processes, free_port, require_tool
from .test_transfer_baresip import answered_calls, ctrl_command
from .test_transfer_baresip import baresip_home as phone_home


def test_baresip_101_calls_102_audio_both_ways(switch: Switch, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    ctrl = free_port()
    h101 = phone_home(tmp_path / "b101", "101", switch, write_tone(tmp_path / "440.wav", 440, seconds=30), ctrl)
    h102 = phone_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "1000.wav", 1000, seconds=30))
    with open(tmp_path / "102.log", "w") as log102, open(tmp_path / "101.log", "w") as log101:
        callee = subprocess.Popen([baresip, "-f", str(h102), "-t", "60"], stdout=log102, stderr=subprocess.STDOUT)
        caller = None
        try:  # the phones run until 101 hangs up, once the switch relayed 5 s of the call
            switch.wait_for(lambda: switch.registrations("acme"), what="102 registered")
            caller = subprocess.Popen([baresip, "-f", str(h101), "-t", "60", "-e", "/dial 102"], stdout=log101,
                                      stderr=subprocess.STDOUT)
            switch.wait_for(lambda: answered_calls(switch), timeout=15, what="101 and 102 talking")
            switch.wait_for(lambda: int(str(admin(switch, "calls")[0]["legs"]["b"]).split("/")[0]) > 250, what="5 s of RTP")
            ctrl_command(ctrl, "hangup", "")
            switch.wait_for(lambda: calls(switch), timeout=15, what="the call ended by 101")
        finally:
            end_processes((callee, caller))
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
