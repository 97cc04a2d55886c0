"""Two baresip phones, acme 101 and 102: 101 calls 102, 102 answers by itself, each side's WAV
audio reaches the other through the switch (checked in what each phone decoded)."""

from __future__ import annotations

from pathlib import Path

from .audio import audible_seconds, read_samples
from .harness import Switch, calls, require_tool
from .test_transfer_baresip import talk_then_hang_up


def test_baresip_101_calls_102_audio_both_ways(switch: Switch, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    h101, h102 = talk_then_hang_up(switch, baresip, tmp_path)
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
