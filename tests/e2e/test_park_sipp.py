"""Call park with SIPp phones (SPEC "Call park"): A calls B, B transfers A to the park code,
A hears music, B's phone gets the slot in a text message, C of the same account dials the slot
and talks to A; the history keeps one story.  RTP checked on the wire (tshark)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from softswitch.media.audio import load
from softswitch.sounds import prompt, spoken_code

from .capture import Capture
from .harness import Switch, admin, base_config, calls, free_port, register
from .test_messages import udp_bound

PCAP_PACKETS = 236  # /usr/share/sip-tester/g711a.pcap


def popen(proc: object) -> subprocess.Popen[str]:
    assert isinstance(proc, subprocess.Popen)
    return proc


def blf(switch: Switch, scenario: str, user: str, password: str, domain: str = "acme.example",
        background: bool = False) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    return switch.sipp(scenario, "-key", "slot", "*801", "-key", "slotdomain", "acme.example", "-au", user, "-ap", password,
                       users=[(user, "-")], domain=domain, background=background, timeout=60)


def test_park_by_refer_music_text_and_pick_up_by_another_phone(switch: Switch) -> None:
    b_sip, a_media, b_media, c_media = free_port(), free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", b_sip)
    messages = switch.workdir / "parker-messages.log"
    # A BLF key on *801 watches the slot through it all (free, confirmed, terminated).
    lamp = popen(blf(switch, "blf_watch.xml", "104", "acme-104-secret", background=True))
    switch.wait_for(lambda: admin(switch, "subscriptions"), what="the BLF subscription")
    with Capture(switch.workdir / "rtp.pcap", [a_media, b_media, c_media]) as cap:
        parker, parked_party = park_call(switch, "101", "102", b_sip, caller_media=a_media, callee_media=b_media,
                                         parker_args=("-d", "1500", "-trace_msg", "-message_file", str(messages)))
        (slot,) = switch.wait_for(lambda: admin(switch, "parked"), timeout=15, what="a parked call")
        assert (slot["account"], slot["slot"], slot["parker"]) == ("acme", "*801", "102")
        assert "sip:101@acme.example" in slot["party"]
        # The store knows it too: `softswitch parked` lists it.
        listed = switch.cli("parked", "--config", str(switch.config_path), "--account", "acme")
        assert listed.returncode == 0, listed.stderr
        assert "*801" in listed.stdout and listed.stdout.rstrip().endswith("1 parked call")
        out, _ = parker.communicate(timeout=30)
        assert parker.returncode == 0, out[-2500:]
        (live,) = admin(switch, "calls")
        assert live["state"] == "parked"
        # A phone that rebooted subscribes again and learns at once that the slot is taken.
        rebooted = blf(switch, "blf_now.xml", "105", "acme-105-secret")
        assert rebooted.returncode == 0, rebooted.stdout[-2500:]
        # Another account learns nothing: its SUBSCRIBE is refused, its call to the slot gets 404.
        stranger = blf(switch, "blf_refused.xml", "101", "globex-101-secret", domain="globex.example")
        assert stranger.returncode == 0, stranger.stdout[-2500:]
        globex_log = switch.workdir / "globex-messages.log"
        dialled = switch.sipp("caller_refused.xml", "-s", "*801", "-au", "101", "-ap", "globex-101-secret",
                              "-key", "callee_domain", "globex.example", "-mp", str(free_port()), "-trace_msg",
                              "-message_file", str(globex_log), users=[("101", "-")], domain="globex.example", timeout=30)
        assert dialled.returncode == 0, dialled.stdout[-2500:]
        assert "SIP/2.0 404 " in globex_log.read_text()
        assert admin(switch, "calls")[0]["state"] == "parked"  # undisturbed
        time.sleep(2.0)  # A listens to the music for a while
        picker = switch.sipp("call_caller.xml", "-d", "9000", "-s", "*801", "-au", "103", "-ap", "acme-103-secret",
                             "-mp", str(c_media), users=[("103", "-")], domain="acme.example", timeout=60)
        assert picker.returncode == 0, picker.stdout[-2500:]
        out, _ = parked_party.communicate(timeout=30)
        assert parked_party.returncode == 0, out[-2500:]
        out, _ = lamp.communicate(timeout=30)
        assert lamp.returncode == 0, out[-2500:]

    # B's phone got the text naming the slot.
    log = messages.read_text()
    assert "MESSAGE sip:" in log and "Call parked at *801" in log
    # A heard music while parked: a stream of the switch's own (not relayed from anyone), from
    # A's relay port, 50 packets a second.
    port_a = live["ports"]["a"]
    to_a = cap.ssrcs(port_a, a_media)
    from_c = set(cap.ssrcs(c_media, live["ports"]["b"]))
    music = {ssrc: n for ssrc, n in to_a.items() if ssrc not in from_c and n >= 100}
    assert len(music) == 1, to_a
    assert {pt for sport, dport, ssrc, pt in cap.streams if ssrc in music} == {8}  # A's session is PCMA
    # C and A talked: every packet each sent after the pick-up reached the other.  (The capture
    # is complete, so a packet short is the relay's doing: the flows say where it went.)
    port_b = live["ports"]["b"]
    flows = {f"{sport}->{dport}": n for (sport, dport), n in cap.flows().items()}
    # B's phone, once it left (it talks until the switch's BYE), was sent nothing more: A's stream
    # went nowhere while parked, then to C.
    last_from_b, to_b = max(cap.when(sport=b_media)), cap.when(dport=b_media)
    assert max(to_b) <= last_from_b + 0.5, (
        f"{sum(t > last_from_b + 0.5 for t in to_b)} packets sent to B's phone after it left: {flows}")
    sent_by_c = cap.sent_from(c_media)
    assert len(sent_by_c) == PCAP_PACKETS
    assert set(sent_by_c) <= set(cap.received_at(a_media))
    assert len(cap.received_at(c_media)) >= PCAP_PACKETS, flows  # A's second pcap, through the switch
    assert {sport for sport, dport in cap.flows() if dport == c_media} == {port_b}

    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the call history row")
    (refused,) = calls(switch, "--account", "globex")  # the stranger's try, refused and recorded
    assert (refused["callee"], refused["disposition"]) == ("*801", "failed")
    assert (row["caller"], row["callee"], row["answered_by"], row["disposition"]) == ("101", "102", "102", "answered")
    assert (row["park_slot"], row["parked_by"], row["retrieved_by"]) == ("*801", "102", "103")
    assert row["parked_at"] != "-" and row["retrieved_at"] != "-"
    # The relay's own counters (exact) and the wire agree on every packet: what the phones of a
    # leg sent, the relay counted in; what it counted out (not its music), they were sent.
    relayed_to_a = sum(n for ssrc, n in to_a.items() if ssrc not in music)
    wire = {"a_packets_in": cap.count(sport=a_media, dport=port_a), "a_packets_out": relayed_to_a,
            "b_packets_out": cap.count(sport=port_b)}  # to B, then to C
    assert {key: int(row[key]) for key in wire} == wire, flows
    # In on leg b: B's, then C's, every one, but for B's last: B sends until the switch's BYE
    # reaches it, and what it sent after the switch let it go (parked the call) is a stray, not
    # the leg's (seen: its last packet 9 ms after the park, on a busy machine).
    from_b = cap.when(sport=b_media, dport=port_b)
    late_from_b = sum(t > max(from_b) - 0.25 for t in from_b)
    on_wire = cap.count(dport=port_b)
    assert on_wire - late_from_b <= int(row["b_packets_in"]) <= on_wire, (late_from_b, flows)
    table = switch.cli("calls", "--config", str(switch.config_path))
    assert "*801 102>103" in table.stdout
    # The slot is free again, in the switch and in the store; nothing leaked.
    assert admin(switch, "parked") == []
    assert switch.cli("parked", "--config", str(switch.config_path)).stdout.rstrip().endswith("0 parked calls")
    counters = admin(switch, "counters")
    assert counters["media"]["sessions"] == 0 and counters["calls"]["active"] == 0


def park_call(switch: Switch, caller: str, callee: str, callee_sip: int, scenario: str = "park_callee.xml", *,
              code: str = "*85", calls: int = 1, caller_media: int | None = None, callee_media: int | None = None,
              parker_args: tuple[str, ...] = (), caller_args: tuple[str, ...] = (),
              ) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """``caller`` calls ``callee`` (registered at ``callee_sip``), who parks the call at ``code``
    (by REFER, or by keys with park_by_keys_callee.xml), ``calls`` times.  The parker's SIPp also
    takes each text message as a call of its own, except where the park is refused."""
    texts = 1 if scenario == "park_refused_callee.xml" else 2
    parker = popen(switch.sipp(scenario, "-m", str(calls * texts), "-mp", str(callee_media or free_port()),
                               "-s", callee, "-key", "park", code, "-d", "500", *parker_args, domain="acme.example",
                               local_port=callee_sip, background=True, timeout=60))
    switch.wait_for(lambda: udp_bound(callee_sip) or parker.poll() is not None, what="the parker's SIPp listening")
    party = popen(switch.sipp("park_caller.xml", "-m", str(calls), "-s", callee, "-au", caller, "-ap", f"acme-{caller}-secret",
                              "-mp", str(caller_media or free_port()), *caller_args, users=[(caller, "-")],
                              domain="acme.example", background=True, timeout=90))
    return parker, party


def finish(proc: subprocess.Popen[str]) -> None:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2500:]


def test_sequential_slots_full_lot_and_expiry_hang_up(make_switch: object) -> None:
    """Slots *801 then *802 in order; with both taken a third park is refused and that call goes
    on (its parker hangs up normally); nobody picks up, so after the expiry (8 s here,
    ``on_expiry: hangup``) the switch hangs up both parked calls and frees the slots."""
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["park"] = {"first_slot": 801, "last_slot": 802, "expiry": 8, "on_expiry": "hangup"}
    switch = make_switch(accounts=accounts)  # type: ignore[operator]
    ports = {ext: free_port() for ext in ("102", "104", "105")}
    for ext, port in ports.items():
        register(switch, ext, f"acme-{ext}-secret", port)
    first = park_call(switch, "101", "102", ports["102"])
    switch.wait_for(lambda: len(admin(switch, "parked")) == 1, what="the first park")
    second = park_call(switch, "103", "104", ports["104"])
    slots = switch.wait_for(lambda: (lambda p: p if len(p) == 2 else None)(admin(switch, "parked")), what="the second park")
    assert [(p["slot"], p["parker"]) for p in slots] == [("*801", "102"), ("*802", "104")]
    parked_at = time.monotonic()
    # The lot is full: the third REFER gets 503 and the call stays up until its parker hangs up.
    refused_parker, refused_party = park_call(switch, "101", "105", ports["105"], "park_refused_callee.xml")
    for proc in (refused_parker, refused_party, first[0], second[0]):
        finish(proc)
    assert len(admin(switch, "parked")) == 2
    for proc in (first[1], second[1]):  # the parked parties: hung up by the switch
        finish(proc)
    assert time.monotonic() - parked_at >= 6.0  # hung up by the expiry, not before
    assert admin(switch, "parked") == []
    rows = switch.wait_for(lambda: (lambda r: r if len(r) == 3 else None)(calls(switch, "--account", "acme")),
                           what="three history rows")
    by_callee = {r["callee"]: r for r in rows}
    for callee, code in (("102", "*801"), ("104", "*802")):
        row = by_callee[callee]
        assert (row["park_slot"], row["parked_by"], row["retrieved_by"]) == (code, callee, "")
        assert (row["hangup_by"], row["cause"]) == ("switch", f"parked at {code} too long")
    kept = by_callee["105"]
    assert (kept["park_slot"], kept["hangup_by"], kept["cause"]) == ("", "callee", "BYE")
    assert switch.cli("parked", "--config", str(switch.config_path)).stdout.rstrip().endswith("0 parked calls")


def test_expiry_rings_the_parker_back_then_the_fallback(make_switch: object) -> None:
    """``on_expiry: parker`` with a 5 s expiry: the parker's phone rings with the parked party
    shown, answers and talks to it (RTP both ways on the wire).  A second parked call: the parker
    lets it ring for ``parker_ring_time`` (5 s), then the fallback extension answers."""
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["park"] = {"expiry": 5, "on_expiry": "parker", "parker_ring_time": 5, "fallback": "104"}
    switch = make_switch(accounts=accounts)  # type: ignore[operator]
    b_sip, d_sip = free_port(), free_port()
    register(switch, "102", "acme-102-secret", b_sip)
    register(switch, "104", "acme-104-secret", d_sip)
    a_media, b_media = free_port(), free_port()
    with Capture(switch.workdir / "rtp.pcap", [a_media, b_media]) as cap:
        parker, party = park_call(switch, "101", "102", b_sip, caller_media=a_media)
        switch.wait_for(lambda: admin(switch, "parked"), what="the park")
        parked_at = time.monotonic()
        finish(parker)  # the park is done; the same phone now waits for the ring-back
        back = switch.sipp("ring_back_phone.xml", "-mp", str(b_media), "-s", "102", "-d", "9000",
                           domain="acme.example", local_port=b_sip, timeout=60)
        assert back.returncode == 0, back.stdout[-2500:]
        finish(party)
    assert time.monotonic() - parked_at >= 4.0  # rung at the expiry, not before
    live_rows = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    (row,) = live_rows
    assert (row["park_slot"], row["parked_by"], row["retrieved_by"]) == ("*801", "102", "102")
    assert (row["hangup_by"], row["cause"]) == ("callee", "BYE")
    # They talked: what each sent after the ring-back reached the other.
    assert len(cap.sent_from(b_media)) == PCAP_PACKETS
    assert set(cap.sent_from(b_media)) <= set(cap.received_at(a_media))
    assert len(cap.received_at(b_media)) >= PCAP_PACKETS

    # Second call: the parker's phone rings for 5 s unanswered, then 104 answers.
    parker, party = park_call(switch, "103", "102", b_sip)
    switch.wait_for(lambda: admin(switch, "parked"), what="the second park")
    finish(parker)
    ringing = popen(switch.sipp("callee_ring_until_cancel.xml", "-s", "102", domain="acme.example", local_port=b_sip,
                                background=True, timeout=60))
    fallback = switch.sipp("ring_back_phone.xml", "-mp", str(free_port()), "-s", "104", "-d", "1000",
                           domain="acme.example", local_port=d_sip, timeout=60)
    assert fallback.returncode == 0, fallback.stdout[-2500:]
    finish(ringing)
    finish(party)
    rows = switch.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(calls(switch, "--account", "acme")),
                           what="the second history row")
    second = next(r for r in rows if r["caller"] == "103")
    assert (second["park_slot"], second["parked_by"], second["retrieved_by"]) == ("*801", "102", "104")
    assert admin(switch, "parked") == [] and admin(switch, "counters")["calls"]["active"] == 0


def test_park_by_keys_the_callee_hears_the_code(make_switch: object) -> None:
    """B presses *85 (RFC 4733 events) during a call from A: A is parked (music), B hears
    "Call parked at star eight zero one" (the exact prompt audio, checked on the wire), gets the
    slot in a text too, and the switch's BYE.  Nobody picks up: the 5 s expiry hangs up."""
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["park"] = {"expiry": 5, "on_expiry": "hangup"}
    switch = make_switch(accounts=accounts)  # type: ignore[operator]
    b_sip, a_media, b_media = free_port(), free_port(), free_port()
    register(switch, "102", "acme-102-secret", b_sip)
    messages = switch.workdir / "parker-messages.log"
    with Capture(switch.workdir / "rtp.pcap", [a_media, b_media]) as cap:
        parker, party = park_call(switch, "101", "102", b_sip, "park_by_keys_callee.xml", caller_media=a_media,
                                  callee_media=b_media, parker_args=("-d", "1000", "-trace_msg", "-message_file", str(messages)))
        (slot,) = switch.wait_for(lambda: admin(switch, "parked"), timeout=15, what="a parked call")
        (live,) = admin(switch, "calls")
        finish(parker)
        finish(party)
    assert (slot["slot"], slot["parker"]) == ("*801", "102")
    assert "Call parked at *801" in messages.read_text()
    # What B heard after pressing the keys: one stream of the switch's own from B's relay port,
    # exactly the prompts "parked at", "star", "eight", "zero", "one" in PCMA (B's codec).
    spoken = {ssrc: n for ssrc, n in cap.ssrcs(live["ports"]["b"], b_media).items()}
    expected = b"".join(b"".join(load(prompt(name)).frames[8]) for name in ("parked-at", *spoken_code("*801")))
    heard = [ssrc for ssrc in spoken if cap.audio(ssrc) == expected]
    assert len(heard) == 1, {ssrc: (n, len(cap.audio(ssrc))) for ssrc, n in spoken.items()}
    assert {pt for sport, dport, ssrc, pt in cap.streams if ssrc == heard[0]} == {8}
    # A heard music meanwhile.
    assert any(n >= 100 for n in cap.ssrcs(live["ports"]["a"], a_media).values())
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["park_slot"], row["parked_by"], row["hangup_by"]) == ("*801", "102", "switch")


def repark(switch: Switch, user: str, slot: str, talk_ms: int) -> str:
    """``user`` picks up ``slot``, talks ``talk_ms``, parks the call again with *85; the text its
    phone got (naming the slot)."""
    log = switch.workdir / f"repark-{user}.log"
    done = switch.sipp("pickup_and_park.xml", "-s", slot, "-key", "park", "*85", "-d", str(talk_ms), "-au", user,
                       "-ap", f"acme-{user}-secret", "-mp", str(free_port()),
                       "-oocsf", str(Path(__file__).parent / "scenarios" / "message_ok.xml"),
                       "-trace_msg", "-message_file", str(log), users=[(user, "-")], domain="acme.example", timeout=60)
    assert done.returncode == 0, done.stdout[-2500:]
    return log.read_text()


def test_repark_within_the_window_keeps_the_code_after_it_a_new_one(make_switch: object) -> None:
    """B parks A directly at *805.  C picks it up and parks it again with *85 within the 3 s
    window: back at *805 (not *801, the first free slot).  D picks it up, talks past the window
    and parks it again: now *801.  E picks up *801 and hangs up."""
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["park"] = {"repark_window": 3, "expiry": 60, "on_expiry": "hangup"}
    switch = make_switch(accounts=accounts)  # type: ignore[operator]
    b_sip = free_port()
    register(switch, "102", "acme-102-secret", b_sip)
    parker, party = park_call(switch, "101", "102", b_sip, code="*805")
    switch.wait_for(lambda: admin(switch, "parked"), what="the directed park")
    finish(parker)

    def parked_now() -> list[tuple[str, str]]:
        return [(p["slot"], p["parker"]) for p in admin(switch, "parked")]

    assert parked_now() == [("*805", "102")]
    assert "Call parked at *805" in repark(switch, "103", "*805", 1000)
    assert switch.wait_for(parked_now, what="the re-park") == [("*805", "103")]
    assert "Call parked at *801" in repark(switch, "104", "*805", 4500)
    assert switch.wait_for(parked_now, what="the late re-park") == [("*801", "104")]
    picker = switch.sipp("call_caller.xml", "-d", "500", "-s", "*801", "-au", "105", "-ap", "acme-105-secret",
                         "-mp", str(free_port()), users=[("105", "-")], domain="acme.example", timeout=60)
    assert picker.returncode == 0, picker.stdout[-2500:]
    finish(party)
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["park_slot"], row["parked_by"], row["retrieved_by"]) == ("*801", "104", "105")
    assert admin(switch, "parked") == []


def test_random_assignment_spreads_parks_over_the_range(make_switch: object) -> None:
    """Eight calls parked at once with ``assignment: random`` take eight different slots spread
    over *801..*899, not the first eight; the 5 s expiry then empties the lot."""
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["park"] = {"assignment": "random", "expiry": 5, "on_expiry": "hangup"}
    switch = make_switch(accounts=accounts)  # type: ignore[operator]
    b_sip = free_port()
    register(switch, "102", "acme-102-secret", b_sip)
    parkers, parties = park_call(switch, "101", "102", b_sip, calls=8, caller_args=("-r", "10"))
    slots = switch.wait_for(lambda: (lambda p: p if len(p) == 8 else None)(admin(switch, "parked")), what="eight parks")
    numbers = sorted(int(p["slot"][1:]) for p in slots)
    assert len(set(numbers)) == 8 and all(801 <= n <= 899 for n in numbers)
    assert numbers != list(range(801, 809)) and numbers[-1] - numbers[0] > 20, numbers
    finish(parkers)
    finish(parties)
    assert admin(switch, "parked") == []
