"""Blind transfer with real phones: baresip 101 calls baresip 102; 102 transfers the call
with its own transfer command (REFER, driven over baresip's ctrl_tcp) to baresip 103.
101 and 103 then hear each other's tone through the switch, 102 has no call left, and the
history row tells the story."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from .audio import audible_seconds, read_samples, write_tone
from .harness import Switch, admin, calls, end_processes, free_port, relayed, require_tool


def baresip_home(home: Path, ext: str, switch: Switch, tone: Path, ctrl: int | None = None) -> Path:
    home.mkdir(parents=True)
    modules = "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
    if ctrl is not None:
        modules += f"module_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n"
    (home / "config").write_text(
        "module_path /usr/lib/baresip/modules\n"
        f"sip_listen 127.0.0.1:{free_port(span=2)}\n"  # and TLS on the next port
        "net_interface 127.0.0.1\n"
        f"{modules}module_app account.so\nmodule_app menu.so\n"
        f"audio_source aufile,{tone}\n"
        "audio_player aubridge,nowhere\n"  # no sound card: sndfile records what was decoded
        f"snd_path {home}\n"
    )
    (home / "accounts").write_text(
        f'<sip:{ext}@acme.example>;auth_pass=acme-{ext}-secret;outbound="sip:127.0.0.1:{switch.port}";answermode=auto\n'
    )
    return home


def ctrl_command(port: int, command: str, params: str) -> None:
    """One command to baresip's ctrl_tcp (a netstring of JSON)."""
    body = json.dumps({"command": command, "params": params, "token": "t1"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(str(len(body)).encode() + b":" + body + b",")
        sock.recv(4096)


def answered_calls(switch: Switch) -> list[dict[str, object]]:
    return [c for c in admin(switch, "calls") if c["state"] == "answered"]


def talk_then_hang_up(switch: Switch, baresip: str, tmp_path: Path, packets: int = 250) -> tuple[Path, Path]:
    """101 (440 Hz) calls 102 (1000 Hz); once the switch relayed ``packets`` of 102's voice
    (50 a second), 101 hangs up (ctrl_tcp) and the call is in the history.  Their homes, with
    what each phone decoded."""
    ctrl = free_port()
    h101 = baresip_home(tmp_path / "b101", "101", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl)
    h102 = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "1000.wav", 1000, seconds=60))
    with open(tmp_path / "102.log", "w") as log102, open(tmp_path / "101.log", "w") as log101:
        callee = subprocess.Popen([baresip, "-f", str(h102), "-t", "60"], stdout=log102, stderr=subprocess.STDOUT)
        caller = None
        try:  # the phones run until 101 hangs up: each step waits on what the switch saw
            switch.wait_for(lambda: switch.registrations("acme"), what="102 registered")
            caller = subprocess.Popen([baresip, "-f", str(h101), "-t", "60", "-e", "/dial 102"], stdout=log101,
                                      stderr=subprocess.STDOUT)
            switch.wait_for(lambda: answered_calls(switch), timeout=15, what="101 and 102 talking")
            switch.wait_for(lambda: relayed(switch, "b") > packets, what=f"{packets} packets of 102's voice")
            ctrl_command(ctrl, "hangup", "")
            switch.wait_for(lambda: calls(switch), timeout=15, what="the call ended by 101")
        finally:
            end_processes((callee, caller))
    return h101, h102


def test_baresip_blind_transfer_connects_the_caller_to_the_target_with_audio_both_ways(switch: Switch, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    tones = {ext: write_tone(tmp_path / f"{freq}.wav", freq, seconds=30) for ext, freq in (("101", 440), ("102", 700), ("103", 1000))}
    ctrl = free_port()
    homes = {ext: baresip_home(tmp_path / f"b{ext}", ext, switch, tones[ext], ctrl if ext == "102" else None)
             for ext in ("101", "102", "103")}
    logs = {ext: open(tmp_path / f"{ext}.log", "w") for ext in homes}  # noqa: SIM115 (closed below)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for ext in ("102", "103"):
            procs.append(subprocess.Popen([baresip, "-f", str(homes[ext]), "-t", "30"], stdout=logs[ext], stderr=subprocess.STDOUT))
        switch.wait_for(lambda: len(switch.registrations("acme")) == 2, what="102 and 103 registered")
        caller = subprocess.Popen([baresip, "-f", str(homes["101"]), "-t", "18", "-e", "/dial 102"],
                                  stdout=logs["101"], stderr=subprocess.STDOUT)
        procs.append(caller)
        (before,) = switch.wait_for(lambda: answered_calls(switch), timeout=15, what="101 and 102 talking")
        switch.wait_for(lambda: relayed(switch, "b") > 50, what="102's RTP")
        ctrl_command(ctrl, "transfer", "103")
        switch.wait_for(lambda: "transfers to 103" in switch.log(), what="102's REFER")
        switch.wait_for(lambda: [c["state"] for c in admin(switch, "calls")] == ["answered"], timeout=15,
                        what="101 and 103 talking")
        assert [c["id"] for c in admin(switch, "calls")] == [before["id"]]  # one call, one story
        caller.wait(40)
    finally:
        end_processes(procs)
        for log in logs.values():
            log.close()
    heard_by_101 = read_samples(next(homes["101"].glob("dump-*-dec.wav")))
    heard_by_103 = read_samples(next(homes["103"].glob("dump-*-dec.wav")))
    log101 = (tmp_path / "101.log").read_text()[-2000:]
    # 101 heard 102 first, then 103; 103 heard 101 for most of its part of the call.
    assert audible_seconds(heard_by_101, 700) >= 1, log101
    assert audible_seconds(heard_by_101, 1000) >= 5, log101
    assert audible_seconds(heard_by_103, 440) >= 5, (tmp_path / "103.log").read_text()[-2000:]
    assert audible_seconds(heard_by_103, 700) == 0  # the transferor is not heard by the target

    rows = switch.wait_for(lambda: calls(switch), what="the call in the history")
    (row,) = rows
    assert (row["caller"], row["callee"], row["disposition"]) == ("101", "102", "answered"), row
    assert row["path"] == "102 > transfer 103 by 102", row
    parties = [p.split("|") for p in row["parties"].split(";")]
    assert [(p[0], p[1], p[4]) for p in parties] == [("101", "caller", ""), ("102", "callee", ""), ("103", "blind transfer", "102")]
    assert int(parties[2][5]) >= 8, row  # 103's own billed seconds
    assert admin(switch, "calls") == []

