"""Hotlines with scenarios, key-press menus and announcements (SPEC "Hotlines, scenarios and
menus").  SIPp plays the provider's caller (from 127.0.0.2) and the phones of the extensions.

  * a menu: key 1 (RFC 4733 events, pressed while the prompt plays) rings group 600; key 2 (SIP
    INFO) rings extension 102; no key: the prompt twice, then the fallback, 104;
  * a scenario: the switch started (libfaketime) at 10:00 on a Monday in the account's time
    zone rings 102; on a Sunday, it plays the "closed" recording and hangs up;
  * every call's history row says the path it took.
"""

from __future__ import annotations

import math
import struct
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import yaml

from softswitch.media.audio import load

from .capture import Capture
from .harness import Switch, calls, free_port, register, require_tool
from .test_calls_trunk import HOTLINE, PROVIDER_IP, trunk_config
from .test_groups_sipp import received

MENU_LINE = "02873001235"


def tone(path: Path, seconds: float, hz: float) -> Path:
    """A WAV recording as an operator would register one (here 16 kHz: the switch converts it)."""
    rate = 16000
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * n / rate)))
                                 for n in range(int(seconds * rate))))
    return path


def flac(path: Path, seconds: float, hz: float) -> Path:
    """A FLAC recording (44.1 kHz stereo, as from a studio): the switch decodes it itself."""
    subprocess.run([require_tool("sox"), "-n", "-r", "44100", "-c", "2", str(path), "synth", str(seconds), "sine", str(hz)],
                   check=True)
    return path


def hotline_config(sw: Switch) -> dict[str, Any]:
    cfg = trunk_config(sw.port, sw.workdir / "switch.db", free_port())
    acme = cfg["accounts"][0]
    acme["timezone"] = "Asia/Ho_Chi_Minh"
    acme["recordings"] = {"welcome": str(tone(sw.workdir / "welcome.wav", 2.0, 440)),
                          "closed": str(flac(sw.workdir / "closed.flac", 1.0, 660))}
    acme["hotlines"] = [
        {"number": HOTLINE, "trunk": "provider", "destination": "announcement:closed",
         "scenario": [{"name": "office hours", "days": ["mon-fri"], "hours": ["08:00-17:30"], "destination": "102"}]},
        {"number": MENU_LINE, "trunk": "provider", "destination": "menu:main"},
    ]
    acme["groups"] = [{"number": "600", "strategy": "ringall", "members": ["103", "105"]}]
    acme["menus"] = [{"name": "main", "prompt": "welcome", "options": {"1": "600", "2": "102"},
                      "timeout": 1, "attempts": 2, "fallback": "104"}]
    return cfg


def start(tmp_path: Path, name: str, clock: str | None = None) -> Switch:
    sw = Switch(tmp_path / name, clock=clock)
    sw.workdir.mkdir()
    sw.config_path.write_text(yaml.safe_dump(hotline_config(sw), sort_keys=False))
    return sw.start()


def phone(sw: Switch, ext: str, scenario: str = "call_callee.xml") -> subprocess.Popen[str]:
    port = free_port()
    register(sw, ext, f"acme-{ext}-secret", port)
    proc = sw.sipp(scenario, "-mp", str(free_port()), "-trace_msg", "-message_file", str(sw.workdir / f"{ext}.log"),
                   domain="acme.example", local_port=port, background=True, timeout=40)
    assert isinstance(proc, subprocess.Popen)
    return proc


def provider_call(sw: Switch, scenario: str, hotline: str, *args: str, media_port: int = 0) -> float:
    """The provider's caller dials ``hotline``; returns when it started."""
    started = time.time()
    result = sw.sipp(scenario, "-s", hotline, "-mp", str(media_port or free_port()), *args, users=[("0909789846", "-")],
                     local_ip=PROVIDER_IP, domain=PROVIDER_IP, timeout=40)
    assert result.returncode == 0, result.stdout[-2500:]
    return started


def finish(proc: subprocess.Popen[str]) -> None:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2500:]


def row_of(sw: Switch) -> dict[str, str]:
    (row,) = sw.wait_for(lambda: calls(sw), what="the history row")
    return row


def test_menu_key_1_as_rfc4733_rings_the_group_while_the_prompt_plays(tmp_path: Path) -> None:
    sw = start(tmp_path, "rtp")
    try:
        member = phone(sw, "103")
        time.sleep(0.3)
        provider_call(sw, "trunk_menu_rtp_key.xml", MENU_LINE, "-d", "500")  # the 2 s prompt is still playing
        finish(member)
        row = row_of(sw)
    finally:
        sw.stop()
    assert (row["hotline"], row["disposition"], row["answered_by"]) == (MENU_LINE, "answered", "103")
    assert row["path"] == f"hotline {MENU_LINE} > menu main > group 600 > 103"
    # The caller's voice reached 103 (all but the key's 10 packets, sent before 103 answered), and
    # every packet of 103's reached the caller.
    a_in, b_out = int(row["a_packets_in"]), int(row["b_packets_out"])
    assert b_out >= 150 and 0 <= a_in - b_out <= 10
    assert int(row["b_packets_in"]) >= 200 and int(row["a_packets_out"]) >= int(row["b_packets_in"])


def test_menu_key_2_as_sip_info_rings_the_extension(tmp_path: Path) -> None:
    sw = start(tmp_path, "info")
    try:
        callee = phone(sw, "102")
        time.sleep(0.3)
        provider_call(sw, "trunk_menu_info_key.xml", MENU_LINE, "-d", "2500", "-key", "dtmf", "2")  # after the prompt
        finish(callee)
        row = row_of(sw)
    finally:
        sw.stop()
    assert (row["disposition"], row["answered_by"]) == ("answered", "102")
    assert row["path"] == f"hotline {MENU_LINE} > menu main > 102"


def test_no_key_plays_the_prompt_twice_then_the_fallback_rings(tmp_path: Path) -> None:
    """Prompt 2 s, timeout 1 s, 2 attempts: 104 rings about 6 s after the switch answered."""
    sw = start(tmp_path, "silent")
    try:
        fallback = phone(sw, "104")
        time.sleep(0.3)
        started = provider_call(sw, "trunk_menu_silent.xml", MENU_LINE, "-d", "7000")
        finish(fallback)
        row = row_of(sw)
    finally:
        sw.stop()
    (rung, _) = next(m for m in received(sw.workdir / "104.log") if m[1] == "INVITE")
    assert 5.5 <= rung - started <= 7.5
    assert (row["disposition"], row["answered_by"]) == ("answered", "104")
    assert row["path"] == f"hotline {MENU_LINE} > menu main > 104"


def test_scenario_inside_and_outside_office_hours(tmp_path: Path) -> None:
    """Monday 10:00 in Ho Chi Minh City (03:00 UTC) rings 102; Sunday 10:00 gets the "closed"
    announcement and the switch's BYE."""
    monday = start(tmp_path, "monday", clock="2026-11-23 03:00:00")
    try:
        callee = phone(monday, "102")
        time.sleep(0.3)
        provider_call(monday, "trunk_caller.xml", HOTLINE, "-d", "1000")
        finish(callee)
        row = row_of(monday)
    finally:
        monday.stop()
    assert (row["disposition"], row["answered_by"], row["path"]) == ("answered", "102", f"hotline {HOTLINE} > 102")
    assert row["started"].startswith("2026-11-23")
    sunday = start(tmp_path, "sunday", clock="2026-11-22 03:00:00")
    media = free_port()
    try:
        with Capture(sunday.workdir / "rtp.pcap", [media]) as cap:
            provider_call(sunday, "trunk_announcement.xml", HOTLINE, media_port=media)
        row = row_of(sunday)
    finally:
        sunday.stop()
    assert (row["disposition"], row["hangup_by"], row["cause"]) == ("no answer", "switch", "announcement played")
    assert row["path"] == f"hotline {HOTLINE} > announcement closed"
    # What reached the caller is the registered recording (FLAC), decoded, made 8 kHz mono and
    # encoded in the PCMA the switch answered with, byte for byte.
    ((ssrc, heard),) = cap.payloads.items()
    assert {pt for _, dport, s, pt in cap.streams if s == ssrc} == {8}
    got, want = b"".join(heard[seq] for seq in cap.received_at(media)), b"".join(load(sunday.workdir / "closed.flac").frames[8])
    assert got == want


def test_recordings_lists_each_accounts_prompts_and_music_and_what_plays_them(tmp_path: Path) -> None:
    sw = Switch(tmp_path)
    cfg = hotline_config(sw)
    cfg["accounts"][0]["recordings"]["hold"] = str(tone(sw.workdir / "hold.wav", 3.0, 330))
    cfg["accounts"][0]["park"] = {"music": "hold"}  # music by name too
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = sw.cli("recordings", "--config", str(sw.config_path), "--account", "acme")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[1]: line for line in out.stdout.splitlines()[1:-1]}
    assert list(rows) == ["welcome", "closed", "hold", "invalid"]
    assert " 3.0s " in rows["hold"] and "park (music)" in rows["hold"]
    assert "recording" in rows["welcome"] and " 2.0s " in rows["welcome"] and "menu main" in rows["welcome"]
    assert "WAV 16000 Hz mono 16-bit (converted to 8 kHz mono when played)" in rows["welcome"]
    assert f"hotline {HOTLINE}" in rows["closed"] and "FLAC 44100 Hz 2 channels (converted" in rows["closed"]
    assert "prompt (built-in)" in rows["invalid"] and "menu main (wrong key)" in rows["invalid"]
    assert out.stdout.splitlines()[-1] == "4 recordings"
    del cfg["accounts"][0]["park"]  # no music named: the switch's own
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = sw.cli("recordings", "--config", str(sw.config_path), "--account", "acme")
    assert "music (built-in)" in out.stdout and "music-on-hold" in out.stdout
    (sw.workdir / "welcome.wav").unlink()  # a missing file is a config error, with its line
    out = sw.cli("recordings", "--config", str(sw.config_path))
    assert out.returncode != 0 and "accounts[0].recordings.welcome: file " in out.stderr and "does not exist" in out.stderr
