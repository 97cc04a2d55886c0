"""When a hotline's scenario rule applies (SPEC "Hotlines, scenarios and menus"): weekdays,
hours and dates, read on the account's local clock.

Pure.  The config writes rules as operators say them and this module reads them:

  days:  [mon-fri, sat]            weekdays; ranges wrap (``fri-mon``)
  hours: ["08:00-12:00", "13:30-17:30"]
                                   from the start up to (not including) the end; an end
                                   before the start runs past midnight ("22:00-06:00");
                                   "24:00" is the end of the day
  dates: ["2026-09-02", "01-01", "12-24..12-26"]
                                   one day, the same day every year, or a range of either

A rule applies when every condition it gives holds (one item of each list is enough).
The first rule of a scenario that applies picks the destination; none: the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(text: str) -> frozenset[int]:
    """``"mon-fri"`` -> {0..4}; ``"sun"`` -> {6}."""
    first, dash, last = text.strip().lower().partition("-")
    for name in (first, last) if dash else (first,):
        if name not in WEEKDAYS:
            raise ValueError(f"{text!r}: days are {', '.join(WEEKDAYS)}, or a range such as mon-fri")
    start = WEEKDAYS.index(first)
    end = WEEKDAYS.index(last) if dash else start
    return frozenset((start + n) % 7 for n in range((end - start) % 7 + 1))


def _minutes(text: str, whole: str) -> int:
    hours, colon, minutes = text.strip().partition(":")
    if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{whole!r}: hours are written HH:MM-HH:MM, such as 08:00-17:30")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise ValueError(f"{whole!r}: {text.strip()!r} is not a time of day")
    return value


def parse_hours(text: str) -> tuple[int, int]:
    """``"08:00-17:30"`` -> (480, 1050), minutes since midnight; start included, end not."""
    start, dash, end = text.partition("-")
    if not dash:
        raise ValueError(f"{text!r}: hours are written HH:MM-HH:MM, such as 08:00-17:30")
    span = (_minutes(start, text), _minutes(end, text))
    if span[0] == span[1]:
        raise ValueError(f"{text!r}: the start and the end are the same time")
    if span[0] == 24 * 60:
        raise ValueError(f"{text!r}: a span cannot start at 24:00")
    return span


@dataclass(frozen=True, slots=True)
class Day:
    year: int | None  # None: every year
    month: int
    day: int

    def key(self, year: int) -> tuple[int, int, int]:
        return (self.year if self.year is not None else year, self.month, self.day)


def _day(text: str, whole: str) -> Day:
    parts = text.strip().split("-")
    try:
        if len(parts) == 3 and len(parts[0]) == 4:
            return Day(*date(int(parts[0]), int(parts[1]), int(parts[2])).timetuple()[:3])
        if len(parts) == 2:
            date(2024, int(parts[0]), int(parts[1]))  # a leap year: 02-29 is a day
            return Day(None, int(parts[0]), int(parts[1]))
    except ValueError:
        pass
    raise ValueError(f"{whole!r}: dates are YYYY-MM-DD, or MM-DD for every year, or a range a..b")


def parse_dates(text: str) -> tuple[Day, Day]:
    """``"2026-09-02"``, ``"01-01"`` or a range ``"12-24..12-26"`` -> (first, last)."""
    first, dots, last = text.partition("..")
    start = _day(first, text)
    end = _day(last, text) if dots else start
    if (start.year is None) != (end.year is None):
        raise ValueError(f"{text!r}: both ends of a range need a year, or neither")
    return start, end


def _in_dates(day: date, span: tuple[Day, Day]) -> bool:
    start, end = span
    today = (day.year, day.month, day.day)
    if start.year is not None:
        return start.key(0) <= today <= end.key(0)
    first, last = start.key(day.year), end.key(day.year)
    if first <= last:
        return first <= today <= last
    return today >= first or today <= last  # "12-30..01-02" runs over the new year


def _in_hours(minute: int, span: tuple[int, int]) -> bool:
    start, end = span
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


@dataclass(frozen=True, slots=True)
class When:
    """A rule's conditions, parsed; None: that condition is not given."""

    days: frozenset[int] | None = None
    hours: tuple[tuple[int, int], ...] | None = None
    dates: tuple[tuple[Day, Day], ...] | None = None

    @classmethod
    def parse(cls, days: Iterable[str] | None, hours: Iterable[str] | None, dates: Iterable[str] | None) -> When:
        return cls(
            None if days is None else frozenset().union(*(parse_days(d) for d in days)),
            None if hours is None else tuple(parse_hours(h) for h in hours),
            None if dates is None else tuple(parse_dates(d) for d in dates),
        )

    def holds(self, local: datetime) -> bool:
        if self.days is not None and local.weekday() not in self.days:
            return False
        minute = local.hour * 60 + local.minute
        if self.hours is not None and not any(_in_hours(minute, span) for span in self.hours):
            return False
        return self.dates is None or any(_in_dates(local.date(), span) for span in self.dates)


def choose(rules: Sequence[tuple[When, str]], default: str, now: float, zone: ZoneInfo) -> tuple[int | None, str]:
    """The destination at ``now`` (epoch seconds) on the clock of ``zone``, and the index of
    the rule that chose it (None: the default)."""
    local = datetime.fromtimestamp(now, zone)
    for index, (when, destination) in enumerate(rules):
        if when.holds(local):
            return index, destination
    return None, default
