"""An extension's life through the command line, against a running switch and SIPp phones:
grant (the printed credentials register), change number (the phone re-registers under the new
number and is rung there; the history keeps the person under both numbers; its mailbox
follows it), stop (its registration goes, its call in progress ends, it can no longer register
or be called, its mailbox goes), each
change in the audit log with before and after, and the file still valid."""

from __future__ import annotations

import json
import re
import subprocess
import time

from .harness import Switch, calls, free_port, register


def _cli(sw: Switch, *args: str) -> str:
    out = sw.cli(*args, "--config", str(sw.config_path))
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _call(sw: Switch, callee: str, callee_port: int, *, until_bye: bool = False) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    phone = sw.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=callee_port,
                    background=True, timeout=40)
    time.sleep(0.3)
    scenario = "caller_until_bye.xml" if until_bye else "call_caller.xml"
    caller = sw.sipp(scenario, "-d", "1000", "-s", callee, "-au", "101", "-ap", "acme-101-secret",
                     "-mp", str(free_port()), users=[("101", "-")], domain="acme.example", timeout=40, background=True)
    assert isinstance(phone, subprocess.Popen) and isinstance(caller, subprocess.Popen)
    return caller, phone


def _finished(proc: subprocess.Popen[str]) -> None:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2500:]


def test_grant_change_and_stop_an_extension_of_a_person(switch: Switch) -> None:
    _cli(switch, "people", "add", "e100", "--account", "acme", "--name", "Lan Nguyen", "--email", "lan@acme.example")
    granted = _cli(switch, "extensions", "grant", "306", "--account", "acme", "--person", "e100", "--alias", "lan",
                   "--permission", "mobile")
    assert "applied to the running switch" in granted, granted
    password = re.search(r"^Password\s+(\S+)$", granted, re.M)
    assert password is not None and len(password.group(1)) >= 16, granted
    assert re.search(r"^Username\s+306$", granted, re.M) and re.search(r"^Server \(proxy\)\s+127\.0\.0\.1$", granted, re.M)

    phone_port = free_port()
    register(switch, "306", password.group(1), phone_port)
    caller, phone = _call(switch, "306", phone_port)
    _finished(caller)
    _finished(phone)

    # 306 becomes 356: the old binding is dropped, the phone registers again as 356 and rings there;
    # its mailbox (here its own greeting) follows it.
    mailbox = switch.workdir / "voicemail" / "acme"
    (mailbox / "306").mkdir(parents=True)
    (mailbox / "306" / "greeting.wav").write_bytes(b"RIFF")
    changed = _cli(switch, "extensions", "change", "306", "356", "--account", "acme")
    switch.wait_for(lambda: (mailbox / "356" / "greeting.wav").exists(), what="306's mailbox moved to 356")
    assert not (mailbox / "306").exists()
    assert "change-number extension 306 -> 356" in changed and re.search(r"^Username\s+356$", changed, re.M)
    switch.wait_for(lambda: not [r for r in switch.registrations("acme") if r["EXT"] == "306"], what="306 unregistered")
    register(switch, "356", password.group(1), phone_port)
    caller, phone = _call(switch, "356", phone_port)
    _finished(caller)
    _finished(phone)

    rows = switch.wait_for(lambda: [r for r in calls(switch, "--person", "e100") if r["disposition"] == "answered"]
                           if len(calls(switch, "--person", "e100")) >= 2 else None, what="both calls in the history")
    assert [(r["callee"], r["callee_person"]) for r in rows] == [("306", "e100"), ("356", "e100")]

    # Stop: the call in progress ends, the registration goes, the number is unknown.
    caller, phone = _call(switch, "356", phone_port, until_bye=True)
    switch.wait_for(lambda: "answered" in switch.cli("calls", "--config", str(switch.config_path), "--active").stdout,
                    what="the call up")
    stopped = _cli(switch, "extensions", "stop", "356", "--account", "acme")
    assert "stop extension 356" in stopped
    switch.wait_for(lambda: not (mailbox / "356").exists(), what="356's mailbox gone with it")
    _finished(caller)  # the switch hung up on both sides
    _finished(phone)
    assert not [r for r in switch.registrations("acme") if r["EXT"] == "356"]
    refused = switch.sipp("register_auth_fail.xml", users=[("356", password.group(1))], domain="acme.example")
    assert isinstance(refused, subprocess.CompletedProcess) and refused.returncode == 0, refused.stdout[-2000:]
    # A call to it gets what a number the account never had gets; and it cannot call (its INVITE's credentials fail).
    answers = []
    for number, user, secret in (("356", "101", "acme-101-secret"), ("399", "101", "acme-101-secret"),
                                 ("101", "356", password.group(1))):
        before = set(switch.workdir.glob("*_messages.log"))
        dialled = switch.sipp("caller_refused.xml", "-s", number, "-au", user, "-ap", secret, "-mp", str(free_port()),
                              "-trace_msg", "-key", "callee_domain", "acme.example", users=[(user, "-")],
                              domain="acme.example", timeout=40)
        assert isinstance(dialled, subprocess.CompletedProcess) and dialled.returncode == 0, dialled.stdout[-2000:]
        (log,) = set(switch.workdir.glob("*_messages.log")) - before
        answers.append(re.findall(r"^SIP/2\.0 ([4-6]\d\d)", log.read_text(errors="replace"), re.M))
    assert answers[0] == answers[1] and answers[0][-1] == "404", answers
    assert answers[2][-1] == "403", answers

    audit = [json.loads(line) for line in _cli(switch, "audit", "--account", "acme", "--json").splitlines()]
    assert [a["action"] for a in audit] == ["person-add", "grant", "change-number", "stop"]
    assert all(a["person"] == "e100" for a in audit)
    assert audit[2]["before"]["number"] == "306" and audit[2]["after"]["number"] == "356"
    assert audit[3]["after"] is None and audit[3]["before"]["alias"] == "lan"
    assert "password" not in json.dumps(audit).replace('"password": "(set)"', "")
    check = switch.cli("config", "check", str(switch.config_path))
    assert check.returncode == 0, check.stderr
