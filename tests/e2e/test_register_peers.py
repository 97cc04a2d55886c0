"""sipsak and baresip register as acme 101; bindings survive a restart and vanish at expiry."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .harness import Switch, free_port, require_tool


def sipsak_register(switch: Switch, user: str, password: str, expires: int, port: int | None = None) -> subprocess.CompletedProcess[str]:
    sipsak = require_tool("sipsak")
    port = port or free_port()
    cmd = [sipsak, "-U", "-i", "-s", f"sip:{user}@127.0.0.1:{switch.port}", "-u", user, "-a", password,
           "-C", f"sip:{user}@127.0.0.1:{port}", "-l", str(port), "-x", str(expires), "-vv"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_sipsak_registers_survives_restart_and_expires(switch: Switch) -> None:
    result = sipsak_register(switch, "101", "acme-101-secret", 3600)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = switch.wait_for(lambda: switch.registrations("acme"), what="sipsak binding")
    assert row["EXT"] == "101" and row["TRANSPORT"] == "UDP" and row["USER-AGENT"].startswith("sipsak")
    assert row["SOURCE"].startswith("127.0.0.1:") and 3590 <= int(row["EXPIRES"].rstrip("s")) <= 3600

    switch.restart()
    (again,) = switch.registrations("acme")
    assert again["CONTACT"] == row["CONTACT"] and again["SOURCE"] == row["SOURCE"]

    # A short registration (the test config allows 2 s) is listed, then is not.
    short = sipsak_register(switch, "102", "acme-102-secret", 3)
    assert short.returncode == 0, short.stdout
    assert [r["EXT"] for r in switch.registrations("acme")] == ["101", "102"]
    time.sleep(3.5)
    assert [r["EXT"] for r in switch.registrations("acme")] == ["101"]
    # ... and also not after a restart (an expired binding is never restored).
    switch.restart()
    assert [r["EXT"] for r in switch.registrations("acme")] == ["101"]


def test_below_minimum_expiry_is_423(make_switch) -> None:  # type: ignore[no-untyped-def]
    sw = make_switch(registration={"min_expires": 60})
    result = sipsak_register(sw, "101", "acme-101-secret", 30)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "423 Interval Too Brief" in output and "Min-Expires: 60" in output


def write_baresip(home: Path, account: str) -> int:
    port = free_port(span=2)  # baresip's TLS takes the next port
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").write_text(
        "module_path /usr/lib/baresip/modules\n"
        f"sip_listen 127.0.0.1:{port}\n"
        "net_interface 127.0.0.1\n"
        "module g711.so\n"
        "module_app account.so\n"
    )
    (home / "accounts").write_text(account + "\n")
    return port


def test_baresip_registers_as_acme_101(switch: Switch, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    home = tmp_path / "baresip"
    port = write_baresip(
        home,
        f'<sip:101@acme.example>;auth_pass=acme-101-secret;outbound="sip:127.0.0.1:{switch.port}";regint=600',
    )
    proc = subprocess.Popen([baresip, "-f", str(home), "-t", "8"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        (row,) = switch.wait_for(lambda: switch.registrations("acme"), timeout=8, what="baresip binding")
        assert row["EXT"] == "101" and row["USER-AGENT"].startswith("baresip")
        assert row["SOURCE"] == f"127.0.0.1:{port}" and row["NAT"] == "no"
    finally:
        out, _ = proc.communicate(timeout=20)
    assert "200 OK" in out, out
    # baresip unregisters when it quits.
    switch.wait_for(lambda: not switch.registrations("acme"), what="baresip unregistered")
