"""Call recording against real phones: baresip 101 (440 Hz) calls baresip 102 (1000 Hz) on an
account that records every call; the stereo WAV holds the caller left and the callee right,
lasts as long as the billed call, is private, and is linked from the history row."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

from .audio import audible_seconds, read_stereo, write_tone
from .harness import admin, base_config, calls, end_processes, free_port, relayed, require_tool
from .test_transfer_baresip import answered_calls, baresip_home, ctrl_command, talk_then_hang_up


def recording_everything() -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = base_config(0, Path("unused"))["accounts"]
    accounts[0]["recording"] = {"mode": "always"}
    return accounts


def heard_prompt(home: Path, name: str) -> bool:
    """Whether a baresip phone decoded the switch's prompt: at least a third of its voiced
    PCMU frames, as sent, are in its dump sample for sample (its jitter buffer may stretch or
    drop a few at the start of a stream, so not every one)."""
    import array

    from softswitch import sounds
    from softswitch.media.audio import PCMU, load
    from softswitch.media.mix import decode

    decoded = [decode(f, PCMU) for f in load(sounds.prompt(name)).frames[PCMU]]
    voiced = [f for f in decoded if max(map(abs, array.array("h", f)), default=0) > 1500]
    (dump,) = home.glob("dump-*-dec.wav")
    data = dump.read_bytes()
    return len(voiced) >= 10 and sum(f in data for f in voiced) >= len(voiced) / 3


def test_a_recorded_call_has_the_caller_left_and_the_callee_right(make_switch: Any, tmp_path: Path) -> None:
    """And both parties hear "This call may be recorded." (recording.announce) at the answer."""
    baresip = require_tool("baresip")
    accounts = recording_everything()
    accounts[0]["recording"]["announce"] = "recorded-call"
    switch = make_switch(accounts=accounts)
    h101, h102 = talk_then_hang_up(switch, baresip, tmp_path)
    (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
    assert row["disposition"] == "answered" and int(row["billed_seconds"]) >= 4, row
    assert heard_prompt(h101, "recorded-call") and heard_prompt(h102, "recorded-call")
    path = Path(row["recording_path"])
    assert path == switch.workdir / "recordings" / "acme" / f"{row['id']}.wav"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert int(row["recording_bytes"]) == path.stat().st_size
    assert row["recording_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    left, right, seconds = read_stereo(path)
    with sqlite3.connect(switch.workdir / "switch.db") as db:  # the exact times (the CSV gives whole seconds)
        ((answered, ended),) = db.execute("SELECT answered, ended FROM calls WHERE id = ?", (row["id"],)).fetchall()
    billed = ended - answered
    assert abs(seconds - billed) < 0.5 and abs(float(row["recording_seconds"]) - seconds) < 0.05, (seconds, billed)
    assert audible_seconds(left, 440) >= 4 and audible_seconds(right, 1000) >= 4
    assert audible_seconds(left, 1000) == 0 and audible_seconds(right, 440) == 0

    listing = switch.cli("recordings", "calls", "--config", str(switch.config_path), "--account", "acme").stdout
    assert row["id"] in listing and str(path) in listing and "1 recorded call" in listing
    out = tmp_path / "exported.wav"
    exported = switch.cli("recordings", "export", row["id"], "--config", str(switch.config_path), "-o", str(out))
    assert exported.returncode == 0 and out.read_bytes() == path.read_bytes(), exported.stderr
    with path.open("r+b") as file:  # the file changed since: not handed on as the call's recording
        file.seek(1000)
        file.write(b"\0\1\2\3")
    refused = switch.cli("recordings", "export", row["id"], "--config", str(switch.config_path), "-o", str(out))
    assert refused.returncode == 1 and "is not the recording the history describes" in refused.stderr


def test_a_call_parked_and_picked_up_is_one_recording_with_both_parts(make_switch: Any, tmp_path: Path) -> None:
    """101 (440 Hz) calls 102 (700 Hz); 102 parks it with its transfer key (REFER to *85); 103
    (1000 Hz) dials *801: one file, 101 on the left throughout, 102 then 103 on the right, the
    park's music not in it."""
    baresip = require_tool("baresip")
    switch = make_switch(accounts=recording_everything())
    ctrl, ctrl103 = free_port(), free_port()
    tones = {ext: write_tone(tmp_path / f"{freq}.wav", freq, seconds=60) for ext, freq in (("101", 440), ("102", 700), ("103", 1000))}
    homes = {ext: baresip_home(tmp_path / f"b{ext}", ext, switch, tones[ext], {"102": ctrl, "103": ctrl103}.get(ext))
             for ext in ("101", "102", "103")}
    logs = {ext: open(tmp_path / f"{ext}.log", "w") for ext in homes}  # noqa: SIM115 (closed below)
    procs: list[subprocess.Popen[bytes]] = []

    try:  # the phones run until the test is done with them: each step waits on what the switch saw
        procs.append(subprocess.Popen([baresip, "-f", str(homes["102"]), "-t", "60"], stdout=logs["102"], stderr=subprocess.STDOUT))
        switch.wait_for(lambda: switch.registrations("acme"), what="102 registered")
        procs.append(subprocess.Popen([baresip, "-f", str(homes["101"]), "-t", "60", "-e", "/dial 102"],
                                      stdout=logs["101"], stderr=subprocess.STDOUT))
        switch.wait_for(lambda: answered_calls(switch), timeout=15, what="101 and 102 talking")
        switch.wait_for(lambda: relayed(switch, "b") > 150, what="3 s of 102's RTP")
        ctrl_command(ctrl, "transfer", "*85")
        switch.wait_for(lambda: admin(switch, "parked"), timeout=15, what="the parked call")
        procs.append(subprocess.Popen([baresip, "-f", str(homes["103"]), "-t", "60", "-e", "/dial *801"],
                                      stdout=logs["103"], stderr=subprocess.STDOUT))
        switch.wait_for(lambda: "picked up from" in switch.log(), timeout=20, what="103's pick-up")
        picked = relayed(switch, "a", sent=True)
        switch.wait_for(lambda: relayed(switch, "a", sent=True) > picked + 200, timeout=20, what="4 s of 103's RTP")
        ctrl_command(ctrl103, "hangup", "")
        switch.wait_for(lambda: calls(switch), timeout=15, what="the call ended by 103")
    finally:
        end_processes(procs)
        for log in logs.values():
            log.close()
    (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
    assert row["retrieved_by"] == "103" and row["parked_by"] == "102", row
    files = list((switch.workdir / "recordings" / "acme").iterdir())
    assert files == [Path(row["recording_path"])]  # one call, one recording
    left, right, seconds = read_stereo(files[0])
    logs101 = (tmp_path / "101.log").read_text()[-2000:]
    assert audible_seconds(left, 440) >= 6, logs101
    assert audible_seconds(right, 700) >= 2 and audible_seconds(right, 1000) >= 3, (tmp_path / "103.log").read_text()[-2000:]
    # Only the caller on the left: at most a window where the tone starts or stops abruptly (the
    # park's pause, the pick-up) spreads over other frequencies.
    assert audible_seconds(left, 1000) <= 0.2 and audible_seconds(left, 700) <= 0.2
    with sqlite3.connect(switch.workdir / "switch.db") as db:
        ((answered, ended, parked_at, retrieved_at),) = db.execute(
            "SELECT answered, ended, parked_at, retrieved_at FROM calls WHERE id = ?", (row["id"],)).fetchall()
    talked = (ended - answered) - (retrieved_at - parked_at)  # the park is not in the file
    assert abs(seconds - talked) < 0.5, (seconds, talked)


def test_an_extension_recording_on_demand_starts_and_pauses_with_its_code(make_switch: Any, tmp_path: Path) -> None:
    """The account records on demand: 101 types *1 (RFC 4733 from baresip) after a while, and
    *1 again some seconds later; only that stretch is in the file."""
    baresip = require_tool("baresip")
    accounts = recording_everything()
    accounts[0]["recording"] = {"mode": "on_demand"}
    switch = make_switch(accounts=accounts)
    ctrl = free_port()
    homes = {"101": baresip_home(tmp_path / "b101", "101", switch, write_tone(tmp_path / "440.wav", 440, seconds=30), ctrl),
             "102": baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "1000.wav", 1000, seconds=30))}
    with open(tmp_path / "101.log", "w") as log101, open(tmp_path / "102.log", "w") as log102:
        callee = subprocess.Popen([baresip, "-f", str(homes["102"]), "-t", "60"], stdout=log102, stderr=subprocess.STDOUT)
        caller = None

        try:  # the phones run until the test hangs up: each step waits on what the switch saw
            switch.wait_for(lambda: switch.registrations("acme"), what="102 registered")
            caller = subprocess.Popen([baresip, "-f", str(homes["101"]), "-t", "60", "-e", "/dial 102"], stdout=log101,
                                      stderr=subprocess.STDOUT)
            switch.wait_for(lambda: answered_calls(switch), timeout=15, what="101 and 102 talking")
            switch.wait_for(lambda: relayed(switch, "b") > 100, what="2 s of RTP")
            ctrl_command(ctrl, "sndcode", "*1")
            switch.wait_for(lambda: "recorded to" in switch.log(), what="the recording started")
            started = time.monotonic()
            time.sleep(3.0)
            ctrl_command(ctrl, "sndcode", "*1")
            switch.wait_for(lambda: "recording paused by 101" in switch.log(), what="the recording paused")
            stretch = time.monotonic() - started
            paused_at = relayed(switch, "b")
            switch.wait_for(lambda: relayed(switch, "b") > paused_at + 150, what="3 s more of the call, not recorded")
            ctrl_command(ctrl, "hangup", "")
            switch.wait_for(lambda: calls(switch), timeout=15, what="the call ended by 101")
        finally:
            end_processes((callee, caller))
    (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
    left, right, seconds = read_stereo(Path(row["recording_path"]))
    assert abs(seconds - stretch) < 0.7 and int(row["billed_seconds"]) >= seconds + 4, (seconds, stretch, row)
    assert audible_seconds(left, 440) >= 2 and audible_seconds(right, 1000) >= 2


def test_a_running_switch_deletes_recordings_past_their_retention(make_switch: Any, tmp_path: Path) -> None:
    """The switch's retention pass (at start, then hourly) deletes an old recording and marks
    its row; a newer one stays."""
    accounts = recording_everything()
    accounts[0]["recording"] = {"mode": "always", "retention_days": 30}
    switch = make_switch(accounts=accounts)
    switch.stop()
    files = {age: tmp_path / f"{age}.wav" for age in (31, 29)}
    now = time.time()
    with sqlite3.connect(switch.workdir / "switch.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(calls)")]
        for age, file in files.items():
            file.write_bytes(b"RIFF")
            values = {c: 0 for c in columns} | {
                "id": f"old-{age}", "account": "acme", "caller": "101", "callee": "102", "direction": "internal",
                "started": now - age * 86400, "disposition": "answered", "hangup_by": "caller", "cause": "",
                "caller_device": "", "callee_device": "", "recording_path": str(file), "recording_seconds": 1.0,
                "recording_bytes": 4, "recording_sha256": "00" * 32,
            } | {c: None for c in ("hotline", "answered", "ended", "answered_by", "park_slot", "parked_by", "parked_at",
                                   "retrieved_by", "retrieved_at", "path", "parties", "caller_person", "callee_person",
                                   "recording_deleted")}
            db.execute(f"INSERT INTO calls ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})", list(values.values()))
    switch.start()
    switch.wait_for(lambda: not files[31].exists(), what="the 31-day-old recording deleted")
    assert files[29].exists()
    listing = switch.cli("recordings", "calls", "--config", str(switch.config_path), "--account", "acme").stdout
    assert "(deleted " in listing and str(files[29]) in listing, listing
    refused = switch.cli("recordings", "export", "old-31", "--config", str(switch.config_path), "-o", str(tmp_path / "x.wav"))
    assert refused.returncode == 1 and "was deleted (retention)" in refused.stderr
