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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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


def retired(plan: PlanLike, today: dt.date) -> bool:
    return plan.status == "legacy" and plan.retire_on is not None and today >= plan.retire_on


@dataclass(frozen=True, slots=True)
class Allowance:
    """The most a person's plans allow today."""

    permission: str  # highest class of number: internal | local | mobile | international
    features: frozenset[str]
    plans: tuple[str, ...]  # the plans in force (for refusals); empty: only retired ones
    retired: tuple[str, ...]  # "basic-2019 (retired 2026-12-01)"

    def refuses_class(self, number_class: str) -> str | None:
        """Why an outside number of ``number_class`` is not allowed, or None."""
        if not self.plans:
            return f"plan {', '.join(self.retired)} allows internal calls only"
        need = "international" if number_class == "international" else "outside"
        if need not in self.features or LEVELS[number_class] > LEVELS[self.permission]:
            return f"{number_class} calls are not in plan {', '.join(self.plans)}"
        return None

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
    return Allowance(NAMES[level], features, tuple(p.name for p in current), gone)
