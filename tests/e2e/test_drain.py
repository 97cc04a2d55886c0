"""Draining a switch before an upgrade (issue 18, "Drain"): ``softswitch drain`` makes the running
switch answer OPTIONS (an edge proxy's probes) and new INVITEs with 503 and a Retry-After while
the call in progress goes on to its end, in the history, and then the switch exits by itself:
a rolling upgrade drops no call.  SIGUSR1 does the same, and with no call the switch exits at once."""

from __future__ import annotations

import signal
import subprocess
import time

from .harness import Switch, admin, calls, free_port, options, register


def test_a_draining_switch_refuses_new_calls_finishes_the_one_in_progress_and_exits(switch: Switch) -> None:
    desk = free_port()
    register(switch, "102", "acme-102-secret", desk)
    callee = switch.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=desk,
                         background=True, timeout=60)
    caller = switch.sipp("call_caller.xml", "-d", "8000", "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                         "-mp", str(free_port()), users=[("101", "-")], domain="acme.example", background=True, timeout=60)
    assert isinstance(callee, subprocess.Popen) and isinstance(caller, subprocess.Popen)
    switch.wait_for(lambda: [r for r in admin(switch, "calls") if r["state"] == "answered"], what="the call answered")
    drained = switch.cli("drain", "--config", str(switch.config_path))
    assert drained.returncode == 0 and "draining: 1 calls in progress" in drained.stdout, drained.stdout + drained.stderr

    assert options(switch.port) == 503  # the edge's probe: take this node out
    refused = switch.sipp("caller_shed.xml", "-s", "102", users=[("101", "-")], domain="acme.example", timeout=20)
    assert refused.returncode == 0, refused.stdout[-2000:]  # a new call: 503 with Retry-After
    assert switch.alive()  # the call goes on

    out, _ = caller.communicate(timeout=60)
    assert caller.returncode == 0, out[-2000:]  # hung up after 8 s, as it meant to
    callee.communicate(timeout=30)
    assert switch.proc is not None
    assert switch.proc.wait(timeout=30) == 0  # and the switch left by itself
    log = switch.log()
    assert "draining: new calls and OPTIONS get 503" in log and "drained: no call left, stopping" in log
    (row,) = calls(switch)
    assert (row["disposition"], row["hangup_by"]) == ("answered", "caller") and int(row["billed_seconds"]) >= 7, row


def test_sigusr1_drains_too_and_an_idle_switch_exits_at_once(switch: Switch) -> None:
    assert options(switch.port) == 200
    switch.signal(signal.SIGUSR1)
    assert switch.proc is not None
    start = time.monotonic()
    assert switch.proc.wait(timeout=15) == 0 and time.monotonic() - start < 10
    assert "drained: no call left, stopping" in switch.log()
