"""An answered call taken over by INVITE with Replaces (RFC 3891 §3), the other way phones do
an attended transfer and how a BLF key pulls a colleague's call: 101 calls 102, who answers;
103's BLF key watches 102, sees it on a call (confirmed, with the dialog's call-id and both
tags) and sends INVITE with Replaces naming that dialog.  103 takes 102's place: 102 gets BYE,
101 is re-INVITEd and talks to 103 (RTP both ways on the wire), the history tells it, and
nothing leaks."""

from __future__ import annotations

import subprocess

from .capture import Capture
from .harness import Switch, admin, calls, free_port, register


def finish(proc: object, who: str) -> None:
    assert isinstance(proc, subprocess.Popen)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, f"{who}: {out[-3000:]}"


def test_a_blf_key_pulls_an_answered_call_with_replaces(switch: Switch) -> None:
    b_sip, a_media, c_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", b_sip)
    before = admin(switch, "counters")["media"]
    key = switch.sipp("blf_pull.xml", "-key", "watched", "102", "-key", "watched_domain", "acme.example",
                      "-au", "103", "-ap", "acme-103-secret", "-mp", str(c_media), "-d", "6000",
                      users=[("103", "-")], domain="acme.example", background=True, timeout=60)
    switch.wait_for(lambda: admin(switch, "subscriptions"), what="the BLF subscription")
    callee = switch.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=b_sip,
                         background=True, timeout=60)
    with Capture(switch.workdir / "rtp.pcap", [a_media, c_media]) as cap:
        # 101 answers the switch's re-INVITE (103's session, 103 calling), then talks until 103 hangs up.
        caller = switch.sipp("xfer_party.xml", "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                             "-mp", str(a_media), users=[("101", "-")], domain="acme.example", background=True, timeout=60)
        finish(key, "103 (the BLF key that pulled the call)")
        finish(callee, "102 (answered, then replaced: BYE)")
        finish(caller, "101 (the caller)")
    # 101 and 103 talked through the relay: each one's stream reached the other.  The capture is
    # complete; what the relay could not pass on is the tail each phone sent while the call ended
    # (103 hangs up mid-pcap: its last packets, and 101's until the BYE reaches it, find the relay
    # gone), at most the last 5 % of a stream, never a packet in the middle.
    sent_by_a, sent_by_c = cap.sent_from(a_media), cap.sent_from(c_media)
    heard_by_a, heard_by_c = set(cap.received_at(a_media)), set(cap.received_at(c_media))
    for sent, heard in ((sent_by_c, heard_by_a), (sent_by_a, heard_by_c)):
        missed = [i for i, seq in enumerate(sent) if seq not in heard]
        assert len(sent) > 100 and all(i >= 0.95 * len(sent) for i in missed), (len(sent), missed)
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["caller"], row["callee"], row["answered_by"], row["disposition"]) == ("101", "102", "102", "answered"), row
    parties = [p.split("|") for p in row["parties"].split(";")]
    assert [(p[0], p[1], p[4]) for p in parties] == [("101", "caller", ""), ("102", "callee", ""), ("103", "replaces", "102")]
    assert "takes the place of 102 (Replaces)" in switch.log()
    counters = admin(switch, "counters")
    assert admin(switch, "calls") == [] and counters["calls"]["active"] == 0 and counters["media"]["sessions"] == 0
    media = counters["media"]
    assert media["ports_allocated"] - media["ports_released"] == before["ports_allocated"] - before["ports_released"]
