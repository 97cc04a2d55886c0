"""SIPp registers 100 distinct extensions with digest auth over UDP and over TCP."""

from __future__ import annotations

import subprocess

from .harness import Switch

USERS = [(str(n), f"pw-{n}-secret") for n in range(200, 300)]


def test_sipp_registers_100_extensions_over_udp(switch: Switch) -> None:
    result = switch.sipp("register_auth.xml", calls=100, rate=100, users=USERS)
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 0, result.stdout[-3000:]
    rows = switch.wait_for(lambda: [r for r in switch.registrations("acme") if r["TRANSPORT"] == "UDP"] if len(switch.registrations("acme")) >= 100 else None, what="100 registrations")
    assert sorted(r["EXT"] for r in rows) == [u for u, _ in USERS]
    for row in rows:
        assert row["SOURCE"].startswith("127.0.0.1:")
        assert 3590 <= int(row["EXPIRES"].rstrip("s")) <= 3600


def test_sipp_registers_100_extensions_over_tcp(switch: Switch) -> None:
    # -d: every call holds its connection for a while after the 200, so the bindings can be listed.
    proc = switch.sipp("register_auth.xml", "-d", "8000", transport="t1", calls=100, rate=100, users=USERS, background=True)
    assert isinstance(proc, subprocess.Popen)
    try:
        rows = switch.wait_for(
            lambda: (lambda rs: rs if len(rs) == 100 else None)([r for r in switch.registrations("acme") if r["TRANSPORT"] == "TCP"]),
            timeout=15, what="100 TCP registrations",
        )
        assert sorted(r["EXT"] for r in rows) == [u for u, _ in USERS]
        assert {r["SOURCE"] for r in rows} and all(r["SOURCE"].startswith("127.0.0.1:") for r in rows)
    finally:
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    # The connection is gone: bindings reached only through it are dropped.
    switch.wait_for(lambda: not [r for r in switch.registrations("acme") if r["TRANSPORT"] == "TCP"], what="TCP bindings dropped")


def test_wrong_password_and_unknown_extension_fail_alike(switch: Switch) -> None:
    wrong = switch.sipp("register_auth_fail.xml", calls=5, users=[("101", "not-the-password")] * 5)
    unknown = switch.sipp("register_auth_fail.xml", calls=5, users=[("999", "whatever-secret")] * 5)
    assert isinstance(wrong, subprocess.CompletedProcess) and isinstance(unknown, subprocess.CompletedProcess)
    assert wrong.returncode == 0, wrong.stdout[-2000:]
    assert unknown.returncode == 0, unknown.stdout[-2000:]
    assert switch.registrations() == []
