"""NAT keep-alives: flows of NAT'd contacts are pinged; answering flows stay, silent ones go."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .harness import Switch
from .test_register_peers import sipsak_register


def test_keepalive_keeps_answering_flows_and_drops_silent_ones(make_switch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sw: Switch = make_switch(keepalive={"mode": "nat", "interval": 5, "failures": 1}, timers={"t1": 0.05})
    # SIPp behind "NAT": a private Contact; it answers OPTIONS (-aa) while it holds the call open.
    sipp = sw.sipp("register_nat.xml", "-aa", "-d", "14000", "-trace_msg", users=[("103", "acme-103-secret")], background=True)
    assert isinstance(sipp, subprocess.Popen)
    # sipsak sends from another port than its Contact (so it is NAT'd too) and then goes away.
    assert sipsak_register(sw, "104", "acme-104-secret", 3600).returncode == 0
    rows = sw.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(sw.registrations("acme")), what="two bindings")
    assert {r["EXT"]: r["NAT"] for r in rows} == {"103": "yes", "104": "yes"}
    # One ping round (5 s) plus Timer F (64 x T1 = 3.2 s): the silent flow is dropped ...
    sw.wait_for(lambda: [r["EXT"] for r in sw.registrations("acme")] == ["103"], timeout=15, what="104 dropped")
    assert "104@acme dropped" in sw.log() and "keep-alives unanswered" in sw.log()
    out, _ = sipp.communicate(timeout=30)
    assert sipp.returncode == 0, out[-2000:]
    # ... while SIPp answered the pings sent to its real source address and stayed registered.
    traces = list(sw.workdir.glob("*_messages.log"))
    assert traces and "OPTIONS sip:103@192.168.1.50:5060 SIP/2.0" in traces[0].read_text()
