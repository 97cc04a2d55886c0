"""A caller that ACKs the 407 with a new branch (issue 13 item 4; SIPp's ``[branch]`` in that
ACK, some phones): 100 calls through the switch to a SIPp callee that answers and gets BYE.
Before, the switch kept retransmitting the 407 after the authenticated INVITE was answered, the
caller took the late 407's To tag and its BYE got 481.  Now every call completes, no 407 reaches
the caller after its 200, nothing answers 481, and each call has its history row."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .harness import Switch, admin, calls, free_port, register

CALLS = 100


def received(log: Path) -> list[str]:
    """The SIP messages SIPp received, from its ``-trace_msg`` file (each entry: a dashed line
    with the time, "UDP message received [n] bytes :", the message)."""
    entries = re.split(r"^-{10,}.*$", log.read_text(errors="replace"), flags=re.M)
    return [e for e in entries if re.match(r"\s*\w+ message received", e)]


def test_ack_to_407_with_a_new_branch_completes_every_call(switch: Switch) -> None:
    callee_sip = free_port()
    register(switch, "102", "acme-102-secret", callee_sip)
    callee = switch.sipp("callee_answer_quiet.xml", calls=CALLS, domain="acme.example", local_port=callee_sip,
                         background=True, timeout=120)
    assert isinstance(callee, subprocess.Popen)
    trace = switch.workdir / "caller-messages.log"
    try:
        caller = switch.sipp("caller_ack_new_branch.xml", "-d", "1000", "-s", "102", "-au", "101",
                             "-ap", "acme-101-secret", "-mp", str(free_port()), "-trace_msg", "-message_file", str(trace),
                             users=[("101", "-")], domain="acme.example", calls=CALLS, rate=10, timeout=120)
        callee_out, _ = callee.communicate(timeout=150)
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.communicate()
    # SIPp exits 0 only when every call succeeded: a BYE answered 481 fails its call.
    assert isinstance(caller, subprocess.CompletedProcess)
    assert caller.returncode == 0, caller.stdout[-2500:]
    assert callee.returncode == 0, callee_out[-2500:]

    got = received(trace)
    assert len(got) >= 3 * CALLS  # the 407, the 200 to the INVITE and the 200 to the BYE at least
    assert not [m for m in got if re.search(r"^SIP/2\.0 481 ", m, re.M)]
    # The switch stopped the 407 once it was ACKed (by the dialog's ids) or the retry came:
    # for no call does a 407 arrive after that call's 200.
    answered: set[str] = set()
    late = []
    for m in got:
        call_id = re.search(r"^Call-ID: *(\S+)", m, re.M | re.I)
        status = re.search(r"^SIP/2\.0 (\d{3}) ", m, re.M)
        if call_id is None or status is None:
            continue
        if status[1] == "200" and re.search(r"^CSeq: *2 INVITE", m, re.M):
            answered.add(call_id[1])
        elif status[1] == "407" and call_id[1] in answered:
            late.append(call_id[1])
    assert len(answered) == CALLS and late == []

    rows = switch.wait_for(lambda: (lambda r: r if len(r) >= CALLS else None)(calls(switch)), timeout=30,
                           what=f"{CALLS} history rows")
    assert len(rows) == CALLS
    assert len({row["id"] for row in rows}) == CALLS
    for row in rows:
        assert (row["caller"], row["callee"], row["disposition"]) == ("101", "102", "answered")
        assert row["caller_device"] == "sipp-sloppy-caller"
        assert (row["hangup_by"], row["cause"]) == ("caller", "BYE")
    counters = switch.wait_for(lambda: (lambda c: c if c["calls"]["active"] == 0 else None)(admin(switch, "counters")),
                               timeout=30, what="no call left up")
    assert counters["sip"].get("internal_errors", 0) == 0
    assert "Traceback" not in switch.log()
