"""rtpengine as the media plane (``media.engine: rtpengine``): a SIPp call's RTP flows through
rtpengine's ports while the switch keeps the signalling; the history's counters are rtpengine's."""

from __future__ import annotations

import re
import subprocess
import time
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from .capture import Capture
from .harness import Switch, admin, base_config, calls, free_port, register, sipp_call
from .rtpengine import PORT_MAX, PORT_MIN, Rtpengine

PCAP_PACKETS = 236  # /usr/share/sip-tester/g711a.pcap


@pytest.fixture
def rtpengine(tmp_path: Path) -> Iterator[Rtpengine]:
    engine = Rtpengine(tmp_path).start()
    yield engine
    engine.stop()


def test_a_call_s_rtp_flows_through_rtpengine_and_its_counters_fill_the_history(rtpengine: Rtpengine,
                                                                                  make_switch: object) -> None:
    switch: Switch = make_switch(media=rtpengine.media)  # type: ignore[operator]
    callee_sip, callee_media, caller_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", callee_sip)
    with Capture(switch.workdir / "rtp.pcap", [callee_media, caller_media]) as cap:
        callee, caller = sipp_call(switch, callee_sip, callee_media, caller_media)
        # While it talks, rtpengine lists the call (its id the history row's) with both legs' ports.
        (live,) = switch.wait_for(lambda: [c for c in admin(switch, "calls") if c["state"] == "answered"],
                                  what="an answered call")
        listed = rtpengine.request("list")["calls"]
        assert listed == [live["id"]]
        time.sleep(1.0)
        query = rtpengine.request("query", call_id=live["id"])
        legs = {tag: [s for m in mono["medias"] for s in m["streams"] if "RTP" in s["flags"]][0]
                for tag, mono in query["tags"].items()}
        assert set(legs) == {"a", "b"}
        assert legs["a"]["endpoint"]["port"] == caller_media and legs["b"]["endpoint"]["port"] == callee_media
        assert all(leg["stats"]["packets"] > 0 for leg in legs.values())  # flowing both ways
        caller_out, _ = caller.communicate(timeout=60)
        out, _ = callee.communicate(timeout=60)
    assert caller.returncode == 0, caller_out[-2500:]
    assert callee.returncode == 0, out[-2500:]

    # The phones heard each other from rtpengine's ports (the ones it listed), never the switch's.
    flows = set(cap.flows())
    assert (legs["a"]["local port"], caller_media) in flows and (legs["b"]["local port"], callee_media) in flows
    sources = {sport for sport, dport in flows if dport in (callee_media, caller_media)}
    assert sources and all(PORT_MIN <= port <= PORT_MAX for port in sources), sources
    assert len(cap.received_at(callee_media)) > PCAP_PACKETS * 0.9  # a capture may miss one
    assert len(cap.received_at(caller_media)) > PCAP_PACKETS * 0.9

    (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert (row["caller"], row["callee"], row["disposition"], row["hangup_by"]) == ("101", "102", "answered", "caller")
    for leg in ("a", "b"):  # rtpengine's counts: what it took in from each phone, and sent on to the other
        assert PCAP_PACKETS - 3 <= int(row[f"{leg}_packets_in"]) <= PCAP_PACKETS + 3, row
        assert PCAP_PACKETS - 3 <= int(row[f"{leg}_packets_out"]) <= PCAP_PACKETS + 3, row

    # rtpengine forgot the call; the switch's own relay carried nothing and kept nothing.
    switch.wait_for(lambda: rtpengine.request("list")["calls"] == [], what="rtpengine to delete the call")
    counters = admin(switch, "counters")
    assert counters["rtpengine"]["opened"] == counters["rtpengine"]["closed"] == 1
    assert counters["rtpengine"]["calls"] == 0 and counters["rtpengine"]["errors"] == 0
    media = counters["media"]
    assert media["sessions"] == 0 and media["packets_in"] == 0
    assert media["ports_allocated"] == media["ports_released"]


def test_park_by_keys_on_a_call_rtpengine_carries(rtpengine: Rtpengine, make_switch: object) -> None:
    """B presses *85 (RFC 4733 events through rtpengine, read from its DTMF log): A is parked and
    hears music that rtpengine plays (``play media``) from A's rtpengine port, B hears the slot
    read out the same way, and the 5 s expiry hangs up."""
    from .test_park_sipp import finish, park_call

    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["park"] = {"expiry": 5, "on_expiry": "hangup"}
    switch: Switch = make_switch(media=rtpengine.media, accounts=accounts)  # type: ignore[operator]
    b_sip, a_media, b_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", b_sip)
    with Capture(switch.workdir / "rtp.pcap", [a_media, b_media]) as cap:
        parker, party = park_call(switch, "101", "102", b_sip, "park_by_keys_callee.xml", caller_media=a_media,
                                  callee_media=b_media, parker_args=("-d", "1000"))
        (slot,) = switch.wait_for(lambda: admin(switch, "parked"), timeout=15, what="a parked call")
        (live,) = admin(switch, "calls")
        query = rtpengine.request("query", call_id=live["id"])
        port = {tag: [s["local port"] for m in mono["medias"] for s in m["streams"] if "RTP" in s["flags"]][0]
                for tag, mono in query["tags"].items()}
        finish(parker)
        finish(party)
    assert (slot["slot"], slot["parker"]) == ("*801", "102")
    # A heard music from its rtpengine port: one stream of rtpengine's own (not B's, who is gone).
    assert any(n >= 100 for n in cap.ssrcs(port["a"], a_media).values()), cap.ssrcs(port["a"], a_media)
    # B heard the slot read out (a stream of rtpengine's own after its keys).
    assert len(cap.ssrcs(port["b"], b_media)) >= 2, cap.ssrcs(port["b"], b_media)
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["park_slot"], row["parked_by"], row["hangup_by"]) == ("*801", "102", "switch")
    switch.wait_for(lambda: rtpengine.request("list")["calls"] == [], what="rtpengine to delete the call")


def test_a_call_silent_both_ways_in_rtpengine_is_torn_down(rtpengine: Rtpengine, make_switch: object) -> None:
    """No RTP either way through rtpengine for ``inactivity_timeout`` (5 s): rtpengine's query
    says so and the switch hangs up both legs, as its own relay would."""
    from .test_calls_routing import silent_call

    switch: Switch = make_switch(media={**rtpengine.media, "inactivity_timeout": 5})  # type: ignore[operator]
    messages, took = silent_call(switch)
    assert 5 <= took <= 12
    own, *seen = [int(p) for p in re.findall(r"m=audio (\d+) ", messages)]  # its offers, then the answer
    assert PORT_MIN <= seen[-1] <= PORT_MAX and all(p == own or PORT_MIN <= p <= PORT_MAX for p in seen)
    (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert (row["disposition"], row["hangup_by"], row["cause"]) == ("answered", "switch", "no RTP for 5 s")
    switch.wait_for(lambda: rtpengine.request("list")["calls"] == [], what="rtpengine to delete the call")


def test_calls_fall_back_to_the_switch_s_relay_while_rtpengine_is_gone(rtpengine: Rtpengine, make_switch: object) -> None:
    """rtpengine stops answering: the next call waits for its offer to time out, then rings with
    the switch's own relay; the call after it does not wait at all."""
    switch: Switch = make_switch(media=rtpengine.media)  # type: ignore[operator]
    callee_sip = free_port()
    register(switch, "102", "acme-102-secret", callee_sip)
    rtpengine.stop()
    callee = switch.sipp("call_callee.xml", "-mp", str(free_port()), "-m", "2", domain="acme.example",
                         local_port=callee_sip, background=True, timeout=40)
    assert isinstance(callee, subprocess.Popen)
    time.sleep(0.3)
    for _ in range(2):
        started = time.monotonic()
        caller = switch.sipp("call_caller.xml", "-d", "500", "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                             "-mp", str(free_port()), users=[("101", "-")], domain="acme.example", timeout=40)
        assert caller.returncode == 0, caller.stdout[-2500:]
    assert time.monotonic() - started < 2.5  # the second: no wait on rtpengine (the first waited ~3 s)
    out, _ = callee.communicate(timeout=60)
    assert callee.returncode == 0, out[-2500:]
    rows = switch.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(calls(switch)), what="two history rows")
    assert all(r["disposition"] == "answered" and int(r["a_packets_in"]) > 0 for r in rows), rows  # the relay's
    assert "rtpengine did not take it" in switch.log()
    counters = admin(switch, "counters")
    assert counters["rtpengine"]["failed"] == 1 and counters["rtpengine"]["opened"] == 0


@pytest.mark.parametrize(("scenario", "args", "moved"), [
    ("callee_ring_until_cancel.xml", (), "its media moves to the switch's relay"),
    ("callee_early_media_busy.xml", ("-d", "1000"), "rtpengine passes its caller's media to the switch's relay"),
], ids=["ringing", "early-media-then-busy"])
def test_an_unanswered_call_rtpengine_took_goes_to_the_mailbox_on_the_switch_s_relay(
        rtpengine: Rtpengine, make_switch: object, scenario: str, args: tuple[str, ...], moved: str) -> None:
    """102 has a mailbox and does not answer: the call rings through rtpengine, then the switch's
    relay greets and records the caller.  Shown none of rtpengine's ports yet, the caller's media
    moves to the relay; shown them (early media, then busy), rtpengine passes it on to the relay."""
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["voicemail"] = {"email": False}
    switch: Switch = make_switch(media=rtpengine.media, accounts=accounts, calls={"ring_timeout": 2})  # type: ignore[operator]
    callee_sip = free_port()
    register(switch, "102", "acme-102-secret", callee_sip)
    ringing = switch.sipp(scenario, "-mp", str(free_port()), *args, domain="acme.example", local_port=callee_sip,
                          background=True, timeout=40)
    assert isinstance(ringing, subprocess.Popen)
    time.sleep(0.3)
    caller = switch.sipp("call_caller.xml", "-d", "10000", "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                         "-mp", str(free_port()), users=[("101", "-")], domain="acme.example", timeout=40)
    assert caller.returncode == 0, caller.stdout[-2500:]
    out, _ = ringing.communicate(timeout=30)
    assert ringing.returncode == 0, out[-2500:]
    (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
    assert (row["disposition"], row["cause"]) == ("voicemail", "message left"), row
    assert moved in switch.log()
    message = switch.workdir / "voicemail" / "acme" / "102" / f"{row['id']}.wav"
    with wave.open(str(message), "rb") as w:
        assert w.getnframes() / w.getframerate() >= 1.5  # the caller's voice, through the relay
    switch.wait_for(lambda: rtpengine.request("list")["calls"] == [], what="rtpengine to let the call go")
    counters = admin(switch, "counters")["rtpengine"]
    assert counters["opened"] == counters["closed"] == 1 and counters["calls"] == 0


def test_a_call_ringing_longer_than_rtpengine_s_timeout_still_talks_through_it(tmp_path: Path,
                                                                               make_switch: object) -> None:
    """rtpengine deletes a call that received no RTP for its ``--timeout``, or ``--silent-timeout``
    for a leg that receives nowhere yet (6 s here; 60 s and an hour unless told), and a caller
    sends none while it rings.  The switch says a ringing call's leg b again every ``watch`` (2 s
    with ``inactivity_timeout`` 5; the first within two of them): answered after 13 s of ringing,
    the call talks through rtpengine and ends when the caller hangs up, not when rtpengine forgot it."""
    engine = Rtpengine(tmp_path, options=("--timeout=6", "--silent-timeout=6")).start()
    try:
        switch: Switch = make_switch(media={**engine.media, "inactivity_timeout": 5})  # type: ignore[operator]
        callee_sip, callee_media, caller_media = free_port(), free_port(), free_port()
        register(switch, "102", "acme-102-secret", callee_sip)
        callee, caller = sipp_call(switch, callee_sip, callee_media, caller_media, talk_ms=3000, ring_ms=13000)
        caller_out, _ = caller.communicate(timeout=90)
        callee_out, _ = callee.communicate(timeout=90)
        assert caller.returncode == 0, caller_out[-2500:]
        assert callee.returncode == 0, callee_out[-2500:]
        (row,) = switch.wait_for(lambda: calls(switch), what="the call history row")
        assert (row["disposition"], row["hangup_by"]) == ("answered", "caller"), row
        rang = datetime.fromisoformat(row["answered"]) - datetime.fromisoformat(row["started"])
        assert rang.total_seconds() >= 12  # past rtpengine's timeout, twice over (the row keeps whole seconds)
        for leg in ("a", "b"):  # rtpengine's counts: it carried the talk, after the long ring
            assert int(row[f"{leg}_packets_in"]) > 50, row
        assert "Unknown call-id" not in engine.log()
    finally:
        engine.stop()
