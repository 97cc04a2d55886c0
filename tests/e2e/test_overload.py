"""Load shedding against a real caller (README "Overload"): with a call-rate ceiling of 5/s,
SIPp offering 20 calls/s for 2 s gets about a second's worth plus 5/s through (the
unregistered 102 answers those 480) and the rest ``503`` with a ``Retry-After`` in the
configured range, counted; a phone registering meanwhile is not shed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .harness import Switch, admin, free_port, register


def test_calls_over_the_rate_ceiling_get_503_with_retry_after(make_switch: object) -> None:
    switch: Switch = make_switch(overload={"max_call_rate": 5, "retry_after": [3, 9]})  # type: ignore[operator]
    log = switch.workdir / "flood-messages.log"
    flood = switch.sipp("caller_refused.xml", "-s", "102", "-au", "101", "-ap", "acme-101-secret", "-key", "callee_domain",
                        "acme.example", "-mp", str(free_port()), "-trace_msg", "-message_file", str(log),
                        users=[("101", "-")], domain="acme.example", calls=40, rate=20, background=True, timeout=60)
    assert isinstance(flood, subprocess.Popen)
    register(switch, "103", "acme-103-secret", free_port())  # REGISTERs are never shed
    out, _ = flood.communicate(timeout=90)
    assert flood.returncode == 0, out[-2500:]
    finals = finals_of(log)
    shed, through = finals.count(503), finals.count(480)
    assert len(finals) == 40 and shed + through == 40, finals
    assert 5 <= through <= 20 and shed >= 20, (through, shed)  # 5 at once, then 5/s over ~2 s
    retry_after = [int(v) for v in re.findall(r"^Retry-After: *(\d+)", log.read_text(), re.M)]
    assert len(retry_after) == shed and all(3 <= v <= 9 for v in retry_after), retry_after
    counters = admin(switch, "counters")["calls"]
    assert counters["shed_rate"] == shed and counters["shed_delay"] == 0 and counters["active"] == 0
    assert any("103" in row.values() for row in switch.registrations("acme")), "the phone registered meanwhile"


def finals_of(log: Path) -> list[int]:
    """The final status each of SIPp's calls got for its authenticated INVITE (CSeq 2)."""
    out = []
    for message in re.split(r"^-{10,}.*$", log.read_text(), flags=re.M):
        status = re.search(r"^SIP/2\.0 (\d{3}) ", message, re.M)
        if status and int(status[1]) >= 300 and re.search(r"^CSeq: *2 INVITE", message, re.M):
            out.append(int(status[1]))
    return out


def test_calls_short_of_relay_ports_are_refused_statelessly(make_switch: object) -> None:
    """Fewer free relay port pairs than ``port_reserve``: every new INVITE gets its 503 (with a
    Retry-After) without a transaction (RFC 3261 §8.2.7), SIPp's ACKs are recognised and
    ignored, nothing is left behind; a phone still registers and is answered meanwhile."""
    switch: Switch = make_switch(overload={"port_reserve": 30, "retry_after": [4, 6]},  # type: ignore[operator]
                                 media={"port_min": 32000, "port_max": 32050})  # 25 pairs < 30
    log = switch.workdir / "shed-messages.log"
    out = switch.sipp("caller_shed.xml", "-s", "102", "-trace_msg", "-message_file", str(log),
                      users=[("101", "-")], domain="acme.example", calls=20, rate=20)
    assert isinstance(out, subprocess.CompletedProcess) and out.returncode == 0, out.stdout[-2500:]
    retry_after = [int(v) for v in re.findall(r"^Retry-After: *(\d+)", log.read_text(), re.M)]
    assert len(retry_after) >= 20 and all(4 <= v <= 6 for v in retry_after), retry_after
    counters = admin(switch, "counters")
    sip, calls = counters["sip"], counters["calls"]
    assert calls["shed_ports"] == sip["stateless_responses"] >= 20, (calls, sip)  # a retransmission is refused again
    assert sip["stateless_acks"] == 20 and sip["transactions"] == 0, sip
    assert counters["transactions"] == {}  # by side, method and state: none, as the refusals made none
    assert calls["active"] == 0 and calls["shed_delay"] == 0
    register(switch, "103", "acme-103-secret", free_port())  # REGISTERs are not calls: never shed
    assert "overload: new calls shed with 503 (ports: 1 so far" in switch.log()
