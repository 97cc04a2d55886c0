"""Pick-up of a ringing colleague with SIPp phones (SPEC "Transfers, pick-up and presence"):
101 calls 102, whose phone rings on; 103 dials ``*8`` (102 and 103 share a pick-up group), or
``**102``, and talks to 101 (every packet each sends reaches the other, on the wire); 102's
phone gets CANCEL with "Call completed elsewhere".  A phone of another account dialling
``**102`` gets 404 and 102 rings on undisturbed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .capture import Capture
from .harness import Switch, admin, base_config, calls, free_port, register

PCAP_PACKETS = 236  # /usr/share/sip-tester/g711a.pcap


def caller(switch: Switch, ext: str, dialled: str, media: int, *args: str, scenario: str = "call_caller.xml",
           ) -> subprocess.Popen[str] | subprocess.CompletedProcess[str]:
    return switch.sipp(scenario, "-s", dialled, "-au", ext, "-ap", f"acme-{ext}-secret", "-mp", str(media),
                       *args, users=[(ext, "-")], domain="acme.example", background=True, timeout=60)


def finish(proc: object, who: str) -> None:
    assert isinstance(proc, subprocess.Popen)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, f"{who}: {out[-2500:]}"


def relayed_every_packet(row: dict[str, str], cap: Capture, a_media: int, b_media: int) -> None:
    """The relay's own counters (exact) in the history row: every packet it received on one leg
    it sent on the other, and they are the packets the phones sent and were sent on the wire."""
    counted = {key: int(row[key]) for key in ("a_packets_in", "b_packets_out", "b_packets_in", "a_packets_out")}
    wire_a, wire_b = cap.count(sport=a_media), cap.count(sport=b_media)
    assert counted == {"a_packets_in": wire_a, "b_packets_out": wire_a, "b_packets_in": wire_b, "a_packets_out": wire_b}, (
        counted, cap.flows())
    assert cap.count(dport=b_media) == wire_a and cap.count(dport=a_media) == wire_b, cap.flows()


@pytest.mark.parametrize("code", ["*8", "**102"])
def test_a_colleague_picks_up_a_ringing_call_and_talks_to_the_caller(make_switch: object, code: str) -> None:
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["pickup_groups"] = {"sales": ["102", "103"]}
    switch: Switch = make_switch(accounts=accounts)  # type: ignore[operator]
    ring_sip, a_media, c_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", ring_sip)
    ringing = switch.sipp("callee_ring_cancelled_elsewhere.xml", "-mp", str(free_port()), domain="acme.example",
                          local_port=ring_sip, background=True, timeout=60)
    time.sleep(0.3)
    with Capture(switch.workdir / "rtp.pcap", [a_media, c_media]) as cap:
        a = caller(switch, "101", "102", a_media, scenario="caller_until_bye.xml")
        switch.wait_for(lambda: [c["state"] for c in admin(switch, "calls")] == ["ringing"], what="102 ringing")
        stranger_log = switch.workdir / "globex-messages.log"
        stranger = switch.sipp("caller_refused.xml", "-s", "**102", "-au", "101", "-ap", "globex-101-secret",
                               "-key", "callee_domain", "globex.example", "-mp", str(free_port()), "-trace_msg",
                               "-message_file", str(stranger_log), users=[("101", "-")], domain="globex.example", timeout=30)
        assert isinstance(stranger, subprocess.CompletedProcess) and stranger.returncode == 0, stranger.stdout[-2000:]
        assert "SIP/2.0 404 " in stranger_log.read_text()
        assert [c["state"] for c in admin(switch, "calls")] == ["ringing"]  # undisturbed
        c = caller(switch, "103", code, c_media, "-d", "9000")  # both pcaps (7 s) play out
        finish(ringing, "102 (rang, then was cancelled elsewhere)")
        finish(c, "103 (the picker)")
        finish(a, "101 (the caller)")
    sent_by_a, sent_by_c = cap.sent_from(a_media), cap.sent_from(c_media)
    assert len(sent_by_a) == PCAP_PACKETS and len(sent_by_c) == PCAP_PACKETS
    assert set(sent_by_a) <= set(cap.received_at(c_media)) and set(sent_by_c) <= set(cap.received_at(a_media))
    rows = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    (row,) = rows
    relayed_every_packet(row, cap, a_media, c_media)
    assert (row["caller"], row["callee"], row["answered_by"], row["disposition"]) == ("101", "102", "103", "answered"), row
    assert [p.split("|")[:2] + p.split("|")[4:5] for p in row["parties"].split(";")] == [
        ["101", "caller", ""], ["103", "pick-up", "102"]]
    counters = admin(switch, "counters")
    assert counters["calls"]["active"] == 0 and counters["media"]["sessions"] == 0


def test_a_blf_key_picks_up_with_replaces_naming_the_ringing_dialog(switch: Switch) -> None:
    """103's BLF key watches 102; when it shows 102 ringing (with the early dialog's call-id and
    tags), the key sends INVITE with Replaces naming that dialog, as Yealink keys do, and 103
    talks to 101 while 102 stops ringing."""
    ring_sip, a_media, c_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", ring_sip)
    ringing = switch.sipp("callee_ring_cancelled_elsewhere.xml", "-mp", str(free_port()), domain="acme.example",
                          local_port=ring_sip, background=True, timeout=60)
    key = switch.sipp("blf_pickup.xml", "-key", "watched", "102", "-key", "watched_domain", "acme.example",
                      "-au", "103", "-ap", "acme-103-secret", "-mp", str(c_media), "-d", "9000",
                      users=[("103", "-")], domain="acme.example", background=True, timeout=60)
    switch.wait_for(lambda: admin(switch, "subscriptions"), what="the BLF subscription")
    with Capture(switch.workdir / "rtp.pcap", [a_media, c_media]) as cap:
        a = caller(switch, "101", "102", a_media, scenario="caller_until_bye.xml")
        finish(ringing, "102 (rang, then was cancelled elsewhere)")
        finish(key, "103 (the BLF key)")
        finish(a, "101 (the caller)")
    sent_by_a, sent_by_c = cap.sent_from(a_media), cap.sent_from(c_media)
    assert len(sent_by_a) == PCAP_PACKETS and len(sent_by_c) == PCAP_PACKETS
    assert set(sent_by_a) <= set(cap.received_at(c_media)) and set(sent_by_c) <= set(cap.received_at(a_media))
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["answered_by"], row["disposition"]) == ("103", "answered"), row
    relayed_every_packet(row, cap, a_media, c_media)
    assert "103|pick-up" in row["parties"] and "(Replaces)" in switch.log()
