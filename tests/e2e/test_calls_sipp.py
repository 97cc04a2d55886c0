"""Calls through the B2BUA between SIPp phones, with RTP checked on the wire (tshark)."""

from __future__ import annotations

import subprocess
import time

from .capture import Capture
from .harness import Switch, admin, calls, free_port, register, sipp_call

PCAP_PACKETS = 236  # /usr/share/sip-tester/g711a.pcap: 236 PCMA packets, 30 ms each


def test_sipp_call_relays_every_rtp_packet_both_ways(switch: Switch) -> None:
    callee_sip, callee_media, caller_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", callee_sip)
    with Capture(switch.workdir / "rtp.pcap", [callee_media, caller_media]) as cap:
        callee, caller = sipp_call(switch, callee_sip, callee_media, caller_media)
        # While it talks, the live view shows the call with both legs' counters moving.
        (live_call,) = switch.wait_for(lambda: [c for c in admin(switch, "calls") if c["state"] == "answered"],
                                       what="an answered call")
        time.sleep(1.0)
        live = switch.cli("calls", "--config", str(switch.config_path), "--active")
        assert live.returncode == 0, live.stderr
        (line,) = [x for x in live.stdout.splitlines() if " acme " in f" {x} "]
        cells = line.split()
        assert cells[3:6] == ["101", "102", "answered"]
        assert all(int(cell.split("/")[0]) > 0 for cell in cells[-3:-1])  # RTP in on both legs
        assert live.stdout.rstrip().endswith("1 active call")
        caller_out, _ = caller.communicate(timeout=60)
        out, _ = callee.communicate(timeout=60)
    assert caller.returncode == 0, caller_out[-2500:]
    assert callee.returncode == 0, out[-2500:]

    # Every packet each side sent arrived at the other side, and from the switch, not the phone.
    assert len(cap.sent_from(caller_media)) == PCAP_PACKETS
    assert len(cap.sent_from(callee_media)) == PCAP_PACKETS
    assert sorted(cap.received_at(callee_media)) == sorted(cap.sent_from(caller_media))
    assert sorted(cap.received_at(caller_media)) == sorted(cap.sent_from(callee_media))
    sources = {sport for sport, dport in cap.flows() if dport in (callee_media, caller_media)}
    assert sources.isdisjoint({caller_media, callee_media})
    assert all(10000 <= port <= 20000 for port in sources)
    # ... from the ports the live view named: leg A faces the caller, leg B the callee.
    flows = set(cap.flows())
    assert (live_call["ports"]["a"], caller_media) in flows and (live_call["ports"]["b"], callee_media) in flows

    rows = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert len(rows) == 1
    row = rows[0]
    assert (row["account"], row["caller"], row["callee"], row["direction"]) == ("acme", "101", "102", "internal")
    assert (row["disposition"], row["hangup_by"], row["cause"]) == ("answered", "caller", "BYE")
    assert (row["caller_device"], row["callee_device"], row["answered_by"]) == ("sipp-caller", "sipp-callee", "102")
    assert 8 <= int(row["billed_seconds"]) <= 10
    assert float(row["duration"]) >= int(row["billed_seconds"]) - 0.5
    for leg in ("a", "b"):
        assert int(row[f"{leg}_packets_in"]) == PCAP_PACKETS
        assert int(row[f"{leg}_packets_out"]) == PCAP_PACKETS
        assert int(row[f"{leg}_lost"]) == 0

    # Both legs ended, nothing leaked.
    counters = admin(switch, "counters")
    media = counters["media"]
    assert media["sessions"] == 0 and media["sessions_opened"] == media["sessions_closed"] == 1
    assert media["ports_allocated"] == media["ports_released"]  # (more than 2 when another process held a port)
    assert media["packets_in"] == media["packets_out"] == 2 * PCAP_PACKETS  # the closed session's, both legs
    assert counters["calls"]["active"] == 0


def test_session_timer_asked_by_the_caller_is_agreed_and_its_refresh_answered_here(switch: Switch) -> None:
    """RFC 4028 with SIPp: ``Require: timer`` is accepted (no 420), the caller's 200 names it
    the refresher, and its UPDATE refresh is answered by the switch with the timer again; the
    callee (a plain SIPp phone that fails on any unexpected request) never sees the refresh."""
    callee_sip = free_port()
    register(switch, "102", "acme-102-secret", callee_sip)
    callee = switch.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=callee_sip,
                         background=True, timeout=30)
    assert isinstance(callee, subprocess.Popen)
    time.sleep(0.3)
    caller = switch.sipp("caller_session_timer.xml", "-d", "1500", "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                         users=[("101", "-")], domain="acme.example", timeout=30)
    out, _ = callee.communicate(timeout=60)
    assert caller.returncode == 0, caller.stdout[-2500:]
    assert callee.returncode == 0, out[-2500:]
    (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert (row["disposition"], row["hangup_by"]) == ("answered", "caller")
