"""A supervisor against real phones: baresip 101 (440 Hz) calls baresip 102 (700 Hz, the
agent); baresip 104 (1000 Hz), named in 102's supervisors, dials *221102 and switches from
listen to whisper to barge with its keys (RFC 4733).  What each phone decoded in each stretch
shows who heard whom; a phone not named gets 403, a number of another account 404."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path
from typing import Any

from .audio import RATE, audible_seconds, write_tone
from .harness import Switch, admin, base_config, calls, end_processes, free_port, relayed, require_tool
from .test_transfer_baresip import answered_calls, ctrl_command
from .test_transfer_baresip import baresip_home as phone_home

TONES = {"101": 440.0, "102": 700.0, "104": 1000.0}


def supervised_accounts() -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = base_config(0, Path("unused"))["accounts"]
    agent = next(e for e in accounts[0]["extensions"] if e["number"] == "102")
    agent["supervisors"] = ["104"]
    return accounts


def decoded(home: Path) -> Path:
    """What a baresip phone heard (its sndfile dump of the decoded audio)."""
    (dump,) = home.glob("dump-*-dec.wav")
    return dump


def sizes(homes: dict[str, Path]) -> dict[str, int]:
    return {ext: decoded(home).stat().st_size for ext, home in homes.items()}


def stretch(path: Path, start: int, end: int) -> list[int]:
    """The samples written between two sizes of a growing WAV file, less 0.5 s at each end
    (the mode changes there)."""
    import struct

    with wave.open(str(path), "rb") as w:
        data = w.readframes(w.getnframes())
    header = path.stat().st_size - len(data)
    first, last = (start - header) // 2 + RATE // 2, (end - header) // 2 - RATE // 2
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    return list(samples[first:last])


def test_listen_whisper_barge_each_heard_by_whom_it_should(make_switch: Any, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    switch: Switch = make_switch(accounts=supervised_accounts())
    ctrl = free_port()
    homes = {ext: phone_home(tmp_path / f"b{ext}", ext, switch, write_tone(tmp_path / f"{ext}.wav", freq, seconds=60),
                             ctrl if ext == "104" else None) for ext, freq in TONES.items()}
    logs = {ext: open(tmp_path / f"{ext}.log", "w") for ext in homes}  # noqa: SIM115 (closed below)
    procs: list[subprocess.Popen[bytes]] = []

    def three_seconds_of(leg: str) -> None:
        start = relayed(switch, leg)
        switch.wait_for(lambda: relayed(switch, leg) > start + 150, timeout=20, what=f"3 s of RTP on leg {leg}")

    marks: list[dict[str, int]] = []
    try:
        procs.append(subprocess.Popen([baresip, "-f", str(homes["102"]), "-t", "60"], stdout=logs["102"], stderr=subprocess.STDOUT))
        switch.wait_for(lambda: switch.registrations("acme"), what="102 registered")
        procs.append(subprocess.Popen([baresip, "-f", str(homes["101"]), "-t", "60", "-e", "/dial 102"],
                                      stdout=logs["101"], stderr=subprocess.STDOUT))
        switch.wait_for(lambda: answered_calls(switch), timeout=15, what="101 and 102 talking")
        procs.append(subprocess.Popen([baresip, "-f", str(homes["104"]), "-t", "60", "-e", "/dial *221102"],
                                      stdout=logs["104"], stderr=subprocess.STDOUT))
        switch.wait_for(lambda: "104@acme joins to listen 102" in switch.log(), timeout=20, what="104 listening")
        switch.wait_for(lambda: relayed(switch, "m") > 25, timeout=15, what="104's RTP")
        for key, said in (("", "listens"), ("5", "whispers"), ("6", "barges in")):
            if key:
                ctrl_command(ctrl, "sndcode", key)
                switch.wait_for(lambda said=said: f"supervisor {said}" in switch.log(), what=f"the supervisor {said}")
            before = sizes(homes)
            three_seconds_of("m")
            marks.append(before)
            marks.append(sizes(homes))
        ctrl_command(ctrl, "hangup", "")
        switch.wait_for(lambda: "m" not in admin(switch, "calls")[0]["legs"], what="the supervisor gone")
        three_seconds_of("a")  # the parties talk on
    finally:
        end_processes(procs)
        for log in logs.values():
            log.close()
    heard = {ext: {mode: stretch(decoded(homes[ext]), marks[2 * i][ext], marks[2 * i + 1][ext])
                   for i, mode in enumerate(("listen", "whisper", "barge"))} for ext in homes}

    def hears(ext: str, mode: str, who: str) -> bool:
        samples = heard[ext][mode]
        seconds, length = audible_seconds(samples, TONES[who]), len(samples) / RATE
        assert length > 1.5 and (seconds >= 0.6 * length or seconds <= 0.2), (ext, mode, who, seconds, length)  # clearly one or the other
        return seconds >= 0.6 * length

    expected = {  # listener -> mode -> whom it hears
        "101": {"listen": {"102"}, "whisper": {"102"}, "barge": {"102", "104"}},
        "102": {"listen": {"101"}, "whisper": {"101", "104"}, "barge": {"101", "104"}},
        "104": {"listen": {"101", "102"}, "whisper": {"101", "102"}, "barge": {"101", "102"}},
    }
    for ext, modes in expected.items():
        for mode, whom in modes.items():
            assert {who for who in TONES if who != ext and hears(ext, mode, who)} == whom, (ext, mode)

    (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
    parties = [p.split("|") for p in row["parties"].split(";")]
    assert [(p[0], p[1], p[4]) for p in parties if p[0] == "104"] == [("104", "listen", "102"), ("104", "whisper", "102"),
                                                                     ("104", "barge", "102")]
    assert all(p[3] for p in parties)  # each one ended


def test_only_a_named_supervisor_may_and_only_in_its_own_account(make_switch: Any, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    switch: Switch = make_switch(accounts=supervised_accounts())
    homes = {ext: phone_home(tmp_path / f"b{ext}", ext, switch, write_tone(tmp_path / f"{ext}.wav", freq, seconds=30))
             for ext, freq in (("101", 440.0), ("102", 700.0))}
    procs: list[subprocess.Popen[bytes]] = []
    with open(tmp_path / "101.log", "w") as log101, open(tmp_path / "102.log", "w") as log102:
        try:
            procs.append(subprocess.Popen([baresip, "-f", str(homes["102"]), "-t", "30"], stdout=log102, stderr=subprocess.STDOUT))
            switch.wait_for(lambda: switch.registrations("acme"), what="102 registered")
            procs.append(subprocess.Popen([baresip, "-f", str(homes["101"]), "-t", "30", "-e", "/dial 102"],
                                          stdout=log101, stderr=subprocess.STDOUT))
            switch.wait_for(lambda: answered_calls(switch), timeout=15, what="101 and 102 talking")
            refusals = [  # who dials what, and the answer: the same 403 with or without a call
                ("103", "acme", "*222102", "403 Forbidden (not a supervisor of 102)"),
                ("103", "acme", "*221105", "403 Forbidden (not a supervisor of 105)"),
                ("101", "globex", "*221103", "404 Not Found"),  # acme's 103 is not globex's
            ]
            tries = []
            for ext, account, dialled, _ in refusals:
                home = phone_home(tmp_path / f"b{ext}-{account}-{dialled[1:]}", ext, switch, homes["101"].parent / "101.wav")
                accounts = home / "accounts"
                accounts.write_text(accounts.read_text().replace("acme", account))
                log = open(tmp_path / f"{ext}-{account}-{dialled[1:]}.log", "w")  # noqa: SIM115 (closed below)
                tries.append((subprocess.Popen([baresip, "-f", str(home), "-t", "5", "-e", f"/dial {dialled}"], stdout=log,
                                               stderr=subprocess.STDOUT), log))
            for proc, log in tries:
                proc.wait(30)
                log.close()
            for ext, account, dialled, answer in refusals:
                assert f"{ext}@{account} dialled {dialled}: {answer}" in switch.log()
            assert "joins to" not in switch.log() and "m" not in admin(switch, "calls")[0]["legs"]
        finally:
            end_processes(procs)
