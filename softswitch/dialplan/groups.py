"""How a hunt group rings (SPEC "Groups"): which members, in which steps, for how long.

Pure.  In: the group's settings, the members that may be rung now (the service knows
who is registered, busy on a call or in do-not-disturb, and leaves them out), the
member who last answered a call to the group, and when each member's last call
ended.  Out: steps, each a set of members rung together for at most a time; a step
whose members all refuse or fail ends early and the next rings at once (a busy
member does not end the hunt).  The steps never add up to more than the group's
ring time; what then is the overflow's business (the service).

  ringall      everyone at once, for the whole ring time
  linear       one at a time, in the members' order
  rrmemory     one at a time, starting after the member who last answered
  memoryhunt   the first, then the first two, then the first three ...
  leastrecent  one at a time, the longest idle first (never called: first of all)
  random       one at a time, in an order shuffled for this call
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


class HuntGroup(Protocol):
    """What the planner reads of a group (config.schema.Group and ExternalGroup have these)."""

    @property
    def strategy(self) -> str: ...

    @property
    def members(self) -> Sequence[str]: ...

    @property
    def member_ring_time(self) -> float: ...

    @property
    def ring_time(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Step:
    members: tuple[str, ...]
    timeout: float


def steps(
    group: HuntGroup, available: Collection[str], *, last_answered: str | None = None,
    idle_since: Mapping[str, float] | None = None, shuffle: Callable[[list[str]], None] | None = None,
) -> list[Step]:
    members = list(group.members)
    if group.strategy == "rrmemory" and last_answered in members:
        start = members.index(last_answered) + 1
        members = members[start:] + members[:start]
    order = [m for m in members if m in available]
    if group.strategy == "leastrecent":
        idle = idle_since or {}
        order.sort(key=lambda m: idle.get(m, float("-inf")))  # stable: ties keep the list order
    elif group.strategy == "random" and shuffle is not None:
        shuffle(order)
    each = group.member_ring_time
    if not order:
        return []
    if group.strategy == "ringall":
        planned = [(tuple(order), group.ring_time)]
    elif group.strategy == "memoryhunt":
        planned = [(tuple(order[: n + 1]), each) for n in range(len(order))]
    else:
        planned = [((m,), each) for m in order]
    out: list[Step] = []
    left = group.ring_time
    for ringing, timeout in planned:
        if left <= 0:
            break
        out.append(Step(ringing, min(timeout, left)))
        left -= timeout
    return out
