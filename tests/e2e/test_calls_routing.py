"""Forking to every device, cancel, account isolation, call permission and failures, with SIPp phones."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .harness import Switch, admin, base_config, calls, free_port, register

CALLER = ("-au", "101", "-ap", "acme-101-secret")


def callee(switch: Switch, scenario: str, port: int, *args: str) -> subprocess.Popen[str]:
    proc = switch.sipp(scenario, "-mp", str(free_port()), *args, domain="acme.example", local_port=port,
                       background=True, timeout=40)
    assert isinstance(proc, subprocess.Popen)
    return proc


def dial(switch: Switch, scenario: str, number: str, *args: str, callee_domain: str = "acme.example",
         ) -> tuple[subprocess.CompletedProcess[str], str]:
    """Call ``number`` as acme 101; returns SIPp's result and the messages it exchanged."""
    before = set(switch.workdir.glob("*_messages.log"))
    result = switch.sipp(scenario, "-s", number, *CALLER, "-mp", str(free_port()), "-trace_msg",
                         "-key", "callee_domain", callee_domain, *args,
                         users=[("101", "-")], domain="acme.example", timeout=40)
    assert isinstance(result, subprocess.CompletedProcess)
    (log,) = set(switch.workdir.glob("*_messages.log")) - before
    return result, log.read_text(errors="replace")


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2500:]
    return out


def nothing_leaked(switch: Switch) -> None:
    counters = switch.wait_for(lambda: (lambda c: c if c["calls"]["active"] == 0 else None)(admin(switch, "counters")),
                               what="no active call")
    media = counters["media"]
    assert media["sessions"] == 0 and media["sessions_opened"] == media["sessions_closed"]
    assert media["ports_allocated"] == media["ports_released"]


def test_both_devices_ring_and_the_second_is_cancelled_completed_elsewhere(switch: Switch) -> None:
    desk, app = free_port(), free_port()
    register(switch, "102", "acme-102-secret", desk)
    register(switch, "102", "acme-102-secret", app)
    answers = callee(switch, "callee_answer_after.xml", desk, "-d", "1000")
    rings = callee(switch, "callee_ring_cancelled_elsewhere.xml", app)
    time.sleep(0.3)
    result, _ = dial(switch, "call_caller.xml", "102", "-d", "1000")
    assert result.returncode == 0, result.stdout[-2500:]
    finish(answers)
    finish(rings)  # it rang, then got CANCEL with Reason: ...;text="Call completed elsewhere"
    (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert row["disposition"] == "answered" and row["hangup_by"] == "caller"
    nothing_leaked(switch)


def test_caller_cancel_before_answer_cancels_every_device_and_leaves_nothing(switch: Switch) -> None:
    desk, app = free_port(), free_port()
    register(switch, "102", "acme-102-secret", desk)
    register(switch, "102", "acme-102-secret", app)
    first = callee(switch, "callee_ring_until_cancel.xml", desk)
    second = callee(switch, "callee_ring_until_cancel.xml", app)
    time.sleep(0.3)
    result, _ = dial(switch, "caller_cancels.xml", "102", "-d", "1000")
    assert result.returncode == 0, result.stdout[-2500:]
    finish(first)
    finish(second)
    (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert (row["disposition"], row["hangup_by"], row["billed_seconds"]) == ("cancelled", "caller", "0")
    nothing_leaked(switch)
    assert admin(switch, "calls") == []


def test_acme_101_dialling_102_never_reaches_globex_102(switch: Switch) -> None:
    port = free_port()
    register(switch, "102", "globex-102-secret", port, domain="globex.example")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as globex_phone:
        globex_phone.bind(("127.0.0.1", port))
        globex_phone.settimeout(1.5)
        result, messages = dial(switch, "caller_refused.xml", "102")
        assert result.returncode == 0, result.stdout[-2500:]
        assert "SIP/2.0 480" in messages  # acme 102 has no device registered
        with pytest.raises(TimeoutError):
            globex_phone.recv(65535)
        # Naming globex's domain in the Request-URI does not help either.
        result, messages = dial(switch, "caller_refused.xml", "102", callee_domain="globex.example")
        assert result.returncode == 0, result.stdout[-2500:]
        assert "SIP/2.0 404" in messages
        with pytest.raises(TimeoutError):
            globex_phone.recv(65535)
    rows = switch.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(calls(switch)), what="two history rows")
    assert {r["account"] for r in rows} == {"acme"} and {r["disposition"] for r in rows} == {"failed"}


def permission_config(port: int, db: Path) -> dict[str, Any]:
    cfg = base_config(port, db)
    acme = cfg["accounts"][0]
    acme["extensions"][0]["call_permission"] = "mobile"
    return cfg


@pytest.fixture
def mobile_switch(tmp_path: Path) -> Any:
    import yaml

    sw = Switch(tmp_path)
    sw.config_path.write_text(yaml.safe_dump(permission_config(sw.port, tmp_path / "switch.db"), sort_keys=False))
    sw.start()
    yield sw
    sw.stop()


def test_mobile_level_extension_calling_international_gets_403(mobile_switch: Switch) -> None:
    sw = mobile_switch
    result, messages = dial(sw, "caller_refused.xml", "0012025550123")
    assert result.returncode == 0, result.stdout[-2500:]
    assert "SIP/2.0 403 Forbidden (international calls not permitted)" in messages
    result, messages = dial(sw, "caller_refused.xml", "+12025550123")
    assert "SIP/2.0 403 Forbidden (international calls not permitted)" in messages
    assert "may call up to mobile; 0012025550123 is international" in sw.log()
    rows = sw.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(calls(sw)), what="two history rows")
    assert all(r["disposition"] == "failed" and r["billed_seconds"] == "0" for r in rows)


def test_busy_after_early_media_is_busy_with_zero_billed_seconds(switch: Switch) -> None:
    port = free_port()
    register(switch, "102", "acme-102-secret", port)
    busy = callee(switch, "callee_early_media_busy.xml", port, "-d", "1500")
    time.sleep(0.3)
    result, messages = dial(switch, "caller_refused.xml", "102")
    assert result.returncode == 0, result.stdout[-2500:]
    finish(busy)
    assert "SIP/2.0 183" in messages and "SIP/2.0 486 Busy Here" in messages
    (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert (row["disposition"], row["billed_seconds"], row["answered"]) == ("busy", "0", "-")
    assert int(row["b_packets_in"]) > 0  # early media did flow
    nothing_leaked(switch)


def silent_call(sw: Switch) -> tuple[str, float]:
    """101 calls 102 (a SIPp phone answering at once) and neither sends RTP; ``inactivity_timeout``
    is 5 s: the switch hangs both legs up with its Reason.  The caller's messages, and how long
    the call took."""
    port = free_port()
    register(sw, "102", "acme-102-secret", port)
    silent_callee = callee(sw, "callee_answer_after.xml", port, "-d", "0")
    time.sleep(0.3)
    started = time.monotonic()
    result, messages = dial(sw, "caller_silent.xml", "102")
    assert result.returncode == 0, result.stdout[-2500:]
    took = time.monotonic() - started
    finish(silent_callee)  # it got the switch's BYE too
    assert "Reason: SIP;cause=200;text=\"no RTP for 5 s\"" in messages
    return messages, took


def test_call_without_rtp_either_way_is_torn_down(make_switch) -> None:  # type: ignore[no-untyped-def]
    sw = make_switch(media={"inactivity_timeout": 5, "port_min": 31000, "port_max": 31100})
    messages, took = silent_call(sw)
    assert 5 <= took <= 9
    relay_ports = [int(p) for p in re.findall(r"m=audio (\d+) ", messages)]
    own = relay_ports[0]  # the caller's own offer; the answer it got names the switch's port
    assert 31000 <= relay_ports[-1] <= 31100 and all(p == own or 31000 <= p <= 31100 for p in relay_ports)
    (row,) = sw.wait_for(lambda: calls(sw), what="the call history row")
    assert (row["disposition"], row["hangup_by"], row["cause"]) == ("answered", "switch", "no RTP for 5 s")
    nothing_leaked(sw)


def test_malformed_record_route_gets_400_and_leaks_no_port(switch: Switch) -> None:
    from softswitch.sip.auth import authorization

    from .harness import status_of, udp_exchange

    def invite(cseq: int, auth: str = "") -> bytes:
        return (
            f"INVITE sip:102@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKrr{cseq};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=x\r\nTo: <sip:102@acme.example>\r\n"
            f"Call-ID: rr-1\r\nCSeq: {cseq} INVITE\r\nContact: <sip:101@127.0.0.1:9>\r\n"
            f"Record-Route: <sip:p1;lr\r\n{auth}Content-Length: 0\r\n\r\n"
        ).encode()

    (challenge,) = udp_exchange(switch.port, invite(1))
    assert status_of(challenge) == 407
    offer = next(line.split(":", 1)[1].strip() for line in challenge.decode().split("\r\n")
                 if line.lower().startswith("proxy-authenticate:"))
    credentials = authorization(offer, "INVITE", "sip:102@acme.example", "101", "acme-101-secret", "c1")
    replies = udp_exchange(switch.port, invite(2, f"Proxy-Authorization: {credentials}\r\n"))
    assert [status_of(r) for r in replies] == [400]
    media = admin(switch, "counters")["media"]
    assert media["sessions"] == 0 and media["ports_allocated"] == media["ports_released"] >= 2  # none leaked
    assert switch.alive()
