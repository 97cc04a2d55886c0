"""What a person's calling plans allow on a given day (SPEC "Calling plans (packages)").

A plan grants a highest call permission and features (``outside``: landline and mobile
calls; ``international``; ``park``; ``recording``; ``voicemail``).  A person with several
plans gets the most any of them gives.  A legacy plan past its ``retire_on`` day gives
nothing beyond ``internal``, so a person left only with retired plans can call colleagues but
not out, and the refusal names the plan.  A person with no plan (or an extension with no
person) is not limited by plans: the extension's own permission is the rule, as before plans.

Pure: the day comes in (the account's date, from the service's clock).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

LEVELS = {"internal": 0, "local": 1, "mobile": 2, "international": 3}
NAMES = {level: name for name, level in LEVELS.items()}
FEATURES = ("outside", "international", "park", "recording", "voicemail")


class PlanLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def retire_on(self) -> dt.date | None: ...
    @property
    def permission(self) -> str: ...
    @property
    def features(self) -> Sequence[str]: ...
    @property
    def minutes(self) -> Mapping[Any, int] | None: ...


def retired(plan: PlanLike, today: dt.date) -> bool:
    return plan.status == "legacy" and plan.retire_on is not None and today >= plan.retire_on


@dataclass(frozen=True, slots=True)
class Allowance:
    """The most a person's plans allow today."""

    permission: str  # highest class of number: internal | local | mobile | international
    features: frozenset[str]
    plans: tuple[str, ...]  # the plans in force (for refusals); empty: only retired ones
    retired: tuple[str, ...]  # "basic-2019 (retired 2026-12-01)"
    minutes: Mapping[str, int] = field(default_factory=dict)  # included per month, by class (summed over the plans)

    def refuses_class(self, number_class: str) -> str | None:
        """Why an outside number of ``number_class`` is not allowed, or None."""
        if not self.plans:
            return f"plan {', '.join(self.retired)} allows internal calls only"
        need = "international" if number_class == "international" else "outside"
        if need not in self.features or LEVELS[number_class] > LEVELS[self.permission]:
            return f"{number_class} calls are not in plan {', '.join(self.plans)}"
        return None

    def refuses_minutes(self, number_class: str, used_seconds: int) -> str | None:
        """Why a call of ``number_class`` is refused when ``used_seconds`` of it were billed this
        month, or None (no plan in force counts minutes of that class: no limit)."""
        included = self.minutes.get(number_class)
        if included is None or used_seconds < included * 60:
            return None
        return (f"{number_class} minutes of plan {', '.join(self.plans)} used up this month "
                f"({used_seconds // 60} of {included})")

    def refuses_feature(self, feature: str) -> str | None:
        if feature in self.features:
            return None
        if not self.plans:
            return f"plan {', '.join(self.retired)} is retired"
        return f"{feature} is not in plan {', '.join(self.plans)}"


def allowance(plans: Sequence[PlanLike], today: dt.date) -> Allowance | None:
    """What ``plans`` (a person's) allow on ``today``; None when the person has no plan."""
    if not plans:
        return None
    current = [p for p in plans if not retired(p, today)]
    gone = tuple(f"{p.name} (retired {p.retire_on})" for p in plans if retired(p, today))
    if not current:
        return Allowance("internal", frozenset(), (), gone)
    level = max(LEVELS[p.permission] for p in current)
    features = frozenset(f for p in current for f in p.features)
    minutes: dict[str, int] = {}
    for cls in ("local", "mobile", "international"):
        counted = [p.minutes[cls] for p in current if p.minutes and cls in p.minutes]
        # A plan that includes the class without counting its minutes leaves it unlimited.
        if counted and all(p.minutes and cls in p.minutes for p in current if _allows(p, cls)):
            minutes[cls] = sum(counted)
    return Allowance(NAMES[level], features, tuple(p.name for p in current), gone, minutes)


def _allows(plan: PlanLike, number_class: str) -> bool:
    need = "international" if number_class == "international" else "outside"
    return need in plan.features and LEVELS[number_class] <= LEVELS[plan.permission]


class Usage:
    """Billed seconds of outside calls by person, month (``YYYY-MM`` in the account's time
    zone) and class of number: what plans' included minutes are counted against."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str, str], int] = {}

    def add(self, person: str, month: str, number_class: str, seconds: int) -> None:
        key = (person, month, number_class)
        self.seconds[key] = self.seconds.get(key, 0) + max(0, seconds)

    def used(self, person: str, month: str, number_class: str) -> int:
        return self.seconds.get((person, month, number_class), 0)

    def forget_before(self, month: str) -> None:
        """Drop months before ``month`` (they count for nothing any more)."""
        self.seconds = {k: v for k, v in self.seconds.items() if k[1] >= month}
