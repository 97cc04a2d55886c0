"""`config check` lists every error; SIGHUP with a bad config keeps the running one."""

from __future__ import annotations

import signal
import subprocess

import yaml

from .harness import Switch


def break_config(switch: Switch) -> None:
    cfg = yaml.safe_load(switch.config_path.read_text())
    acme = cfg["accounts"][0]
    acme["extensions"][0]["password"] = "a-new-password"   # would change 101 ...
    acme["extensions"].append({"number": "0123", "password": "secret-0123"})  # ... but 0123 is invalid
    acme["extensions"].append({"number": "1066", "password": "secret-1066"})  # and has the wrong length
    cfg["server"]["listen"][0]["port"] = 99999
    cfg["registration"]["colour"] = "blue"
    switch.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_config_check_lists_every_error(switch: Switch) -> None:
    good = switch.cli("config", "check", str(switch.config_path))
    assert good.returncode == 0 and "OK" in good.stdout
    break_config(switch)
    bad = switch.cli("config", "check", str(switch.config_path))
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    path = str(switch.config_path)
    assert all(line.startswith(path + ":") for line in lines), lines
    text = bad.stderr
    assert "server.listen[0].port: Input should be less than or equal to 65535" in text
    assert "registration.colour: unknown key" in text
    assert "number: extension number '0123' must not be 0 or start with 0" in text
    assert "extension '1066' has 4 digits; this account's extensions have 3" in text
    for line in lines:  # file:line: path: message, with a real line number
        assert int(line[len(path) + 1 :].split(":", 1)[0]) > 1


def test_sighup_with_bad_config_keeps_running_config(switch: Switch) -> None:
    break_config(switch)
    switch.signal(signal.SIGHUP)
    switch.wait_for(lambda: "config reload refused" in switch.log(), what="reload refused")
    assert "must not be 0 or start with 0" in switch.log()
    assert switch.alive()
    # The old password of 101 still works, on the old port.
    ok = switch.sipp("register_auth.xml", users=[("101", "acme-101-secret")])
    assert isinstance(ok, subprocess.CompletedProcess) and ok.returncode == 0, ok.stdout[-2000:]


def test_sighup_with_good_config_applies_it(switch: Switch) -> None:
    cfg = yaml.safe_load(switch.config_path.read_text())
    cfg["accounts"][0]["extensions"][0]["password"] = "a-new-password"
    switch.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    switch.signal(signal.SIGHUP)
    switch.wait_for(lambda: "config reloaded" in switch.log(), what="reload")
    old = switch.sipp("register_auth_fail.xml", users=[("101", "acme-101-secret")])
    new = switch.sipp("register_auth.xml", users=[("101", "a-new-password")])
    assert isinstance(old, subprocess.CompletedProcess) and old.returncode == 0, old.stdout[-2000:]
    assert isinstance(new, subprocess.CompletedProcess) and new.returncode == 0, new.stdout[-2000:]
