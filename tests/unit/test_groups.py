"""Hunt group strategies (dialplan/groups.py): order, steps and times, pure."""

from __future__ import annotations

from softswitch.config.schema import Group
from softswitch.dialplan.groups import Step, steps


def group(strategy: str, members: tuple[str, ...] = ("101", "102", "103", "104"), **kw: object) -> Group:
    return Group.model_validate({"number": "600", "strategy": strategy, "members": list(members), **kw})


ALL = {"101", "102", "103", "104"}


def order(plan: list[Step]) -> list[tuple[str, ...]]:
    return [s.members for s in plan]


def test_ringall_rings_everyone_available_for_the_group_time() -> None:
    assert steps(group("ringall"), ALL - {"103"}) == [Step(("101", "102", "104"), 60.0)]
    assert steps(group("ringall"), set()) == []


def test_linear_hunts_in_list_order_skipping_the_unavailable() -> None:
    plan = steps(group("linear", member_ring_time=15), ALL - {"102"})
    assert plan == [Step(("101",), 15), Step(("103",), 15), Step(("104",), 15)]


def test_the_group_ring_time_caps_the_hunt() -> None:
    plan = steps(group("linear", member_ring_time=25, ring_time=60), ALL)
    assert plan == [Step(("101",), 25), Step(("102",), 25), Step(("103",), 10)]


def test_rrmemory_starts_after_the_member_who_last_answered() -> None:
    g = group("rrmemory")
    assert order(steps(g, ALL)) == [("101",), ("102",), ("103",), ("104",)]
    assert order(steps(g, ALL, last_answered="102")) == [("103",), ("104",), ("101",), ("102",)]
    assert order(steps(g, ALL - {"103"}, last_answered="102")) == [("104",), ("101",), ("102",)]
    assert order(steps(g, ALL, last_answered="999")) == [("101",), ("102",), ("103",), ("104",)]


def test_memoryhunt_adds_a_member_at_each_step() -> None:
    plan = steps(group("memoryhunt", member_ring_time=10), ALL)
    assert order(plan) == [("101",), ("101", "102"), ("101", "102", "103"), ("101", "102", "103", "104")]
    assert {s.timeout for s in plan} == {10}


def test_leastrecent_rings_the_longest_idle_first() -> None:
    idle = {"101": 500.0, "102": 100.0, "104": 300.0}  # 103 never had a call
    assert order(steps(group("leastrecent"), ALL, idle_since=idle)) == [("103",), ("102",), ("104",), ("101",)]


def test_random_uses_the_given_shuffle_and_keeps_everyone() -> None:
    plan = steps(group("random"), ALL, shuffle=lambda xs: xs.reverse())
    assert order(plan) == [("104",), ("103",), ("102",), ("101",)]
