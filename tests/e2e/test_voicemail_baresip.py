"""Voicemail against a real phone: baresip 101 (440 Hz) calls 102, which has no phone
registered; the switch answers, plays the greeting and the tone, and records 101 until it
hangs up: one mono WAV in 102's mailbox, its row in the store, listed by the command line;
102's message-waiting subscription (SIPp) hears "no", then "yes, 1 new"."""

from __future__ import annotations

import stat
import subprocess
import wave
from pathlib import Path
from typing import Any

from .audio import audible_seconds, read_samples, write_tone
from .harness import Switch, admin, base_config, calls, end_processes, free_port, require_tool
from .test_recording_baresip import heard_prompt
from .test_transfer_baresip import baresip_home, ctrl_command


def with_mailboxes() -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = base_config(0, Path("unused"))["accounts"]
    accounts[0]["voicemail"] = {}  # the default: every extension has a mailbox
    return accounts


def test_a_call_nobody_can_take_leaves_a_message(make_switch: Any, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    switch: Switch = make_switch(accounts=with_mailboxes())
    ctrl = free_port()
    home = baresip_home(tmp_path / "b101", "101", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl)

    def sent_by_101() -> int:
        live = admin(switch, "calls")
        return int(str(live[0]["legs"]["a"]).split("/")[0]) if live and live[0]["legs"] else 0

    # 102's message-waiting lamp (RFC 3842), watched by SIPp from before the call to after the message.
    lamp = switch.sipp("mwi_watch.xml", "-au", "102", "-ap", "acme-102-secret", users=[("102", "-")],
                       domain="acme.example", background=True, timeout=90)
    assert isinstance(lamp, subprocess.Popen)
    switch.wait_for(lambda: any(s["kind"] == "mailbox" for s in admin(switch, "subscriptions")), what="102's MWI subscription")
    caller = None
    with open(tmp_path / "101.log", "w") as log:
        try:
            caller = subprocess.Popen([baresip, "-f", str(home), "-t", "60", "-e", "/dial 102"], stdout=log,
                                      stderr=subprocess.STDOUT)
            switch.wait_for(lambda: "recording a message for 102" in switch.log(), timeout=30, what="the tone")
            start = sent_by_101()
            switch.wait_for(lambda: sent_by_101() > start + 200, timeout=20, what="4 s of 101's voice")
            ctrl_command(ctrl, "hangup", "")
            switch.wait_for(lambda: "a message of" in switch.log(), timeout=15, what="the message kept")
            out, _ = lamp.communicate(timeout=60)
            assert lamp.returncode == 0, out  # no message, then one new, then unsubscribed
        finally:
            end_processes([caller, lamp])
    (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
    assert (row["disposition"], row["hangup_by"], row["cause"]) == ("voicemail", "caller", "message left"), row
    assert "voicemail 102" in row["path"]
    assert heard_prompt(home, "leave-message")  # the greeting reached the caller

    listing = switch.cli("voicemail", "--config", str(switch.config_path), "--account", "acme").stdout
    assert "1 message in 1 mailbox" in listing and row["id"] in listing, listing
    path = switch.workdir / "voicemail" / "acme" / "102" / f"{row['id']}.wav"
    assert str(path) in listing
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 8000, 2)
        seconds = w.getnframes() / 8000
    samples = read_samples(path)
    assert 3.5 <= seconds <= 8 and audible_seconds(samples, 440) >= 3.0, seconds
