"""Hunt groups with SIPp members (SPEC "Groups"), one test per strategy: the order and timing
of the rings, members skipped when unregistered or busy on a call, a member's 486 not ending
the hunt, rrmemory's memory across calls, leastrecent's idle times, and "completed elsewhere"
for the members who did not answer.  When each member's phone saw its INVITE and CANCEL is read
from SIPp's own message logs."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

from .harness import Switch, admin, base_config, calls, free_port, register

STAMP = re.compile(r"^-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n(UDP message received[^\n]*)\n\n(\S+)", re.M)


def received(log: Path) -> list[tuple[float, str]]:
    """(time, method or status) of each message a SIPp phone received, from -message_file."""
    if not log.exists():
        return []
    return [(datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f").timestamp(), first)
            for ts, _, first in STAMP.findall(log.read_text())]


def member(switch: Switch, ext: str, scenario: str, port: int, *args: str) -> subprocess.Popen[str]:
    proc = switch.sipp(scenario, "-mp", str(free_port()), "-trace_msg", "-message_file", str(switch.workdir / f"{ext}.log"),
                       *args, domain="acme.example", local_port=port, background=True, timeout=60)
    assert isinstance(proc, subprocess.Popen)
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2500:]


def with_groups(make_switch: object, groups: list[dict[str, object]], dnd: tuple[str, ...] = ()) -> Switch:
    accounts = base_config(0, Path("unused.db"))["accounts"]
    accounts[0]["groups"] = groups
    for ext in accounts[0]["extensions"]:
        if ext["number"] in dnd:
            ext["dnd"] = True
    return make_switch(accounts=accounts)  # type: ignore[operator,no-any-return]


def test_linear_hunt_order_timing_and_skips(make_switch: object) -> None:
    """Group 600, linear over 102, 105, 103, 104 with 2 s per member.  102 rings 2 s and is
    cancelled; 105 has no registered phone and is skipped (no 2 s gap); 103 answers 486 at once
    and the hunt goes on straight to 104, which answers."""
    switch = with_groups(make_switch, [{"number": "600", "strategy": "linear", "members": ["102", "105", "103", "104"],
                                        "member_ring_time": 2, "ring_time": 20}])
    ports = {ext: free_port() for ext in ("102", "103", "104")}
    for ext, port in ports.items():
        register(switch, ext, f"acme-{ext}-secret", port)
    phones = [member(switch, "102", "callee_ring_until_cancel.xml", ports["102"]),
              member(switch, "103", "callee_early_media_busy.xml", ports["103"]),
              member(switch, "104", "call_callee.xml", ports["104"])]
    time.sleep(0.3)
    caller = switch.sipp("call_caller.xml", "-s", "600", "-au", "101", "-ap", "acme-101-secret", "-d", "1000",
                         "-mp", str(free_port()), users=[("101", "-")], domain="acme.example", timeout=60)
    assert caller.returncode == 0, caller.stdout[-2500:]
    for proc in phones:
        finish(proc)
    got = {ext: received(switch.workdir / f"{ext}.log") for ext in ports}
    first = {ext: next(t for t, what in msgs if what == "INVITE") for ext, msgs in got.items()}
    cancelled = next(t for t, what in got["102"] if what == "CANCEL")
    assert 1.7 <= cancelled - first["102"] <= 2.7  # its 2 s, then CANCEL
    assert 1.7 <= first["103"] - first["102"] <= 2.7  # 105 skipped: no second 2 s
    assert 0 <= first["104"] - first["103"] <= 0.5  # 486 from 103: on to 104 at once
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["caller"], row["callee"], row["answered_by"], row["disposition"]) == ("101", "600", "104", "answered")


def test_rrmemory_remembers_who_answered_and_busy_members_are_skipped(make_switch: object) -> None:
    """Group 601 (rrmemory over 102, 103): the first call is answered by 102, the next one
    starts after it, at 103.  Group 602 (ringall over 102, 103) rung while 103 is still on
    that call rings 102 only."""
    switch = with_groups(make_switch, [
        {"number": "601", "strategy": "rrmemory", "members": ["102", "103"], "member_ring_time": 5},
        {"number": "602", "strategy": "ringall", "members": ["102", "103"], "ring_time": 5},
    ])
    ports = {ext: free_port() for ext in ("102", "103")}
    for ext, port in ports.items():
        register(switch, ext, f"acme-{ext}-secret", port)
    b = member(switch, "102", "call_callee.xml", ports["102"], "-m", "2")
    c = member(switch, "103", "call_callee.xml", ports["103"])
    time.sleep(0.3)

    def call(number: str, caller: str, hold_ms: int, background: bool = False) -> object:
        return switch.sipp("call_caller.xml", "-s", number, "-au", caller, "-ap", f"acme-{caller}-secret", "-d", str(hold_ms),
                           "-mp", str(free_port()), users=[(caller, "-")], domain="acme.example", timeout=60,
                           background=background)

    first = call("601", "101", 500)
    assert isinstance(first, subprocess.CompletedProcess) and first.returncode == 0, first.stdout[-2500:]
    second = call("601", "104", 6000, background=True)  # 103 answers and stays on it
    switch.wait_for(lambda: any(c["state"] == "answered" for c in admin(switch, "calls")), what="the second call")
    third = call("602", "105", 500)  # 103 is busy: only 102 rings
    assert isinstance(third, subprocess.CompletedProcess) and third.returncode == 0, third.stdout[-2500:]
    assert isinstance(second, subprocess.Popen)
    finish(second)
    finish(b)
    finish(c)
    assert [what for _, what in received(switch.workdir / "103.log")].count("INVITE") == 1
    rows = switch.wait_for(lambda: (lambda r: r if len(r) == 3 else None)(calls(switch, "--account", "acme")),
                           what="three history rows")
    by_caller = {r["caller"]: r for r in rows}
    assert [(by_caller[c]["callee"], by_caller[c]["answered_by"]) for c in ("101", "104", "105")] == [
        ("601", "102"), ("601", "103"), ("602", "102")]


def caller(switch: Switch, number: str, ext: str = "101", *args: str, scenario: str = "call_caller.xml") -> None:
    done = switch.sipp(scenario, "-s", number, "-au", ext, "-ap", f"acme-{ext}-secret", "-mp", str(free_port()), *args,
                       users=[(ext, "-")], domain="acme.example", timeout=60)
    assert isinstance(done, subprocess.CompletedProcess) and done.returncode == 0, done.stdout[-2500:]


def invites(switch: Switch, ext: str) -> list[float]:
    return [t for t, what in received(switch.workdir / f"{ext}.log") if what == "INVITE"]


def test_ringall_rings_everyone_at_once_and_the_others_see_completed_elsewhere(make_switch: object) -> None:
    """Group 610 (ringall over 102, 103, 104, 105): the INVITEs to 102, 103 and 104 leave
    together; 105 is registered but in do-not-disturb and is not rung.  103 answers after 1 s;
    102 and 104 then get CANCEL with ``Reason: ... Call completed elsewhere`` (their SIPp
    scenario fails without it), so their phones log no missed call."""
    switch = with_groups(make_switch, [{"number": "610", "strategy": "ringall", "members": ["102", "103", "104", "105"],
                                        "ring_time": 10}], dnd=("105",))
    ports = {ext: free_port() for ext in ("102", "103", "104")}
    dnd_port = free_port()
    for ext, port in {**ports, "105": dnd_port}.items():
        register(switch, ext, f"acme-{ext}-secret", port)
    phones = [member(switch, "102", "callee_ring_cancelled_elsewhere.xml", ports["102"]),
              member(switch, "103", "callee_answer_after.xml", ports["103"], "-d", "1000"),
              member(switch, "104", "callee_ring_cancelled_elsewhere.xml", ports["104"])]
    dnd = member(switch, "105", "call_callee.xml", dnd_port)
    time.sleep(0.3)
    caller(switch, "610", "101", "-d", "500")
    for proc in phones:
        finish(proc)
    assert dnd.poll() is None  # 105's phone was there all along, and heard nothing
    dnd.terminate()
    dnd.wait(10)
    assert invites(switch, "105") == []
    first = {ext: invites(switch, ext)[0] for ext in ports}
    assert max(first.values()) - min(first.values()) <= 0.3
    for ext in ("102", "104"):
        cancel = next(t for t, what in received(switch.workdir / f"{ext}.log") if what == "CANCEL")
        assert 0.9 <= cancel - first["103"] <= 1.6
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["callee"], row["answered_by"], row["disposition"]) == ("610", "103", "answered")


def test_memoryhunt_rings_one_then_two_then_three(make_switch: object) -> None:
    """Group 620 (memoryhunt over 102, 103, 104, 2 s a step): 102 alone, then 102 and 103,
    then all three; 104 answers in the third step."""
    switch = with_groups(make_switch, [{"number": "620", "strategy": "memoryhunt", "members": ["102", "103", "104"],
                                        "member_ring_time": 2, "ring_time": 20}])
    ports = {ext: free_port() for ext in ("102", "103", "104")}
    for ext, port in ports.items():
        register(switch, ext, f"acme-{ext}-secret", port)
    phones = [member(switch, "102", "callee_ring_until_cancel.xml", ports["102"], "-m", "3"),
              member(switch, "103", "callee_ring_until_cancel.xml", ports["103"], "-m", "2"),
              member(switch, "104", "call_callee.xml", ports["104"])]
    time.sleep(0.3)
    caller(switch, "620", "101", "-d", "500")
    for proc in phones:
        finish(proc)
    got = {ext: invites(switch, ext) for ext in ports}
    assert [len(got[ext]) for ext in ("102", "103", "104")] == [3, 2, 1]
    t0 = got["102"][0]
    step2, step3 = [t - t0 for t in got["102"][1:]]
    assert 1.7 <= step2 <= 2.7 and 3.7 <= step3 <= 4.9
    assert abs(got["103"][0] - t0 - step2) <= 0.3 and abs(got["103"][1] - t0 - step3) <= 0.3
    assert abs(got["104"][0] - t0 - step3) <= 0.3
    (row,) = switch.wait_for(lambda: calls(switch, "--account", "acme"), what="the history row")
    assert (row["callee"], row["answered_by"]) == ("620", "104")


def test_leastrecent_rings_the_longest_idle_member_first(make_switch: object) -> None:
    """Group 630 (leastrecent over 102, 103, 104).  102 has just had a call; 103 and 104 never
    had one.  Three group calls are answered by 103 (never called, first in the list), 104
    (never called), then 102 (idle longest); linear would have given 102 three times and
    rrmemory 102, 103, 104."""
    switch = with_groups(make_switch, [{"number": "630", "strategy": "leastrecent", "members": ["102", "103", "104"],
                                        "member_ring_time": 5}])
    ports = {ext: free_port() for ext in ("102", "103", "104")}
    for ext, port in ports.items():
        register(switch, ext, f"acme-{ext}-secret", port)
    phones = [member(switch, "102", "call_callee.xml", ports["102"], "-m", "2"),
              member(switch, "103", "call_callee.xml", ports["103"]),
              member(switch, "104", "call_callee.xml", ports["104"])]
    time.sleep(0.3)
    caller(switch, "102", "105", "-d", "200")
    for _ in range(3):
        caller(switch, "630", "101", "-d", "200")
    for proc in phones:
        finish(proc)
    assert [len(invites(switch, ext)) for ext in ("102", "103", "104")] == [2, 1, 1]  # nobody rung out of turn
    rows = switch.wait_for(lambda: (lambda r: r if len(r) == 4 else None)(calls(switch, "--account", "acme")),
                           what="four history rows")
    group_calls = sorted((r for r in rows if r["callee"] == "630"), key=lambda r: r["started"])
    assert [r["answered_by"] for r in group_calls] == ["103", "104", "102"]


def test_random_rings_one_at_a_time_in_a_new_order_each_call(make_switch: object) -> None:
    """Group 640 (random over 102, 103, 104, 2 s each), every member busy (486 at once): each of
    six calls rings all three, one after the other, and the caller gets 486.  The orders
    are not all the same (the chance that six shuffles agree is 1 in 7776)."""
    switch = with_groups(make_switch, [{"number": "640", "strategy": "random", "members": ["102", "103", "104"],
                                        "member_ring_time": 2}])
    ports = {ext: free_port() for ext in ("102", "103", "104")}
    for ext, port in ports.items():
        register(switch, ext, f"acme-{ext}-secret", port)
    phones = [member(switch, ext, "callee_early_media_busy.xml", port, "-m", "6") for ext, port in ports.items()]
    time.sleep(0.3)
    caller(switch, "640", "101", "-m", "6", "-l", "1", "-key", "callee_domain", "acme.example", scenario="caller_refused.xml")
    for proc in phones:
        finish(proc)
    rung = sorted((t, ext) for ext in ports for t in invites(switch, ext))
    assert len(rung) == 18
    orders = [tuple(ext for _, ext in rung[i:i + 3]) for i in range(0, 18, 3)]
    assert all(sorted(order) == ["102", "103", "104"] for order in orders)
    assert len(set(orders)) > 1
    rows = switch.wait_for(lambda: (lambda r: r if len(r) == 6 else None)(calls(switch, "--account", "acme")),
                           what="six history rows")
    assert {(r["callee"], r["disposition"]) for r in rows} == {("640", "busy")}
