"""Attended transfer with SIPp phones (RFC 5589 §7): 101 (the transferee) calls 102; 103 (the
target) calls 102 too; 102 REFERs the first call with Replaces naming the second.  101 and
103 then talk through the switch (every packet each sends reaches the other, checked on the
wire), 102 has no call left, and nothing leaks: no call, no relay session, every port back."""

from __future__ import annotations

import subprocess
import time

from .capture import Capture
from .harness import Switch, admin, calls, free_port, register

PCAP_PACKETS = 236  # /usr/share/sip-tester/g711a.pcap


def party(switch: Switch, ext: str, media: int, hold_ms: int) -> subprocess.Popen[str]:
    proc = switch.sipp("xfer_party.xml", "-s", "102", "-au", ext, "-ap", f"acme-{ext}-secret", "-mp", str(media),
                       "-d", str(hold_ms), users=[(ext, "-")], domain="acme.example", background=True, timeout=60)
    assert isinstance(proc, subprocess.Popen)
    return proc


def finish(proc: subprocess.Popen[str], who: str) -> None:
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, f"{who}: {out[-3000:]}"


def test_attended_transfer_joins_transferee_and_target_and_leaks_nothing(switch: Switch) -> None:
    t_sip, e_media, x_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", t_sip)
    before = admin(switch, "counters")["media"]
    with Capture(switch.workdir / "rtp.pcap", [e_media, x_media]) as cap:
        transferor = switch.sipp("xfer_transferor.xml", "-m", "2", "-mp", str(free_port()), domain="acme.example",
                                 local_port=t_sip, background=True, timeout=60)
        assert isinstance(transferor, subprocess.Popen)
        time.sleep(0.3)
        transferee = party(switch, "101", e_media, 0)
        switch.wait_for(lambda: [c["state"] for c in admin(switch, "calls")] == ["answered"], what="101 and 102 talking")
        target = party(switch, "103", x_media, 8000)
        finish(target, "103 (target)")
        finish(transferee, "101 (transferee)")
        finish(transferor, "102 (transferor)")
    # 101 and 103 talked: every packet each sent (after the transfer) reached the other.
    sent_by_101, sent_by_103 = cap.sent_from(e_media), cap.sent_from(x_media)
    assert len(sent_by_101) == PCAP_PACKETS and len(sent_by_103) == PCAP_PACKETS
    assert set(sent_by_101) <= set(cap.received_at(x_media))
    assert set(sent_by_103) <= set(cap.received_at(e_media))
    # Nothing left: no call, no relay session, every port given back.
    counters = admin(switch, "counters")
    assert admin(switch, "calls") == [] and counters["calls"]["active"] == 0 and counters["media"]["sessions"] == 0
    media = counters["media"]
    assert media["ports_allocated"] - media["ports_released"] == before["ports_allocated"] - before["ports_released"]
    rows = switch.wait_for(lambda: len(calls(switch)) == 2 and calls(switch), what="both calls in the history")
    first, second = sorted(rows, key=lambda r: r["started"])
    assert "attended transfer" in first["path"], first
    parties = [p.split("|") for p in first["parties"].split(";")]
    assert [(p[0], p[1], p[4]) for p in parties] == [("101", "caller", ""), ("102", "callee", ""), ("103", "attended transfer", "102")]
    assert second["cause"].startswith("attended transfer to call"), second
