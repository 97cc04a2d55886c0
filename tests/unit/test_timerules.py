"""Scenario time rules (SPEC "Hotlines, scenarios and menus"): weekdays, hours and dates on
the account's clock, the first rule that applies wins, else the default.  The clock is
passed in (``now``), never read."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from softswitch.dialplan.timerules import When, choose, parse_days, parse_hours

SAIGON = ZoneInfo("Asia/Ho_Chi_Minh")


def at(text: str, zone: ZoneInfo = SAIGON) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


OFFICE = When.parse(["mon-fri"], ["08:00-12:00", "13:30-17:30"], None)
SATURDAY = When.parse(["sat"], ["08:00-12:00"], None)
HOLIDAYS = When.parse(None, None, ["01-01", "2026-09-01..2026-09-02", "12-31..01-01"])
RULES = [(HOLIDAYS, "announcement:holiday"), (OFFICE, "menu:main"), (SATURDAY, "600")]


@pytest.mark.parametrize(("local", "expected"), [
    ("2026-11-23 08:00", (1, "menu:main")),  # Monday, the first minute of the office
    ("2026-11-23 07:59", (None, "announcement:closed")),
    ("2026-11-23 12:00", (None, "announcement:closed")),  # the end is not included: lunch
    ("2026-11-23 13:30", (1, "menu:main")),
    ("2026-11-27 17:29", (1, "menu:main")),  # Friday
    ("2026-11-28 09:00", (2, "600")),  # Saturday morning
    ("2026-11-29 09:00", (None, "announcement:closed")),  # Sunday
    ("2026-09-02 10:00", (0, "announcement:holiday")),  # a Wednesday, but a holiday: the first rule wins
    ("2027-01-01 10:00", (0, "announcement:holiday")),  # every year
    ("2026-12-31 23:00", (0, "announcement:holiday")),  # a range over the new year
])
def test_the_first_rule_that_applies_chooses(local: str, expected: tuple[int | None, str]) -> None:
    assert choose(RULES, "announcement:closed", at(local), SAIGON) == expected


def test_rules_read_the_accounts_clock_not_utc() -> None:
    # 02:00 UTC on Monday is 09:00 in Saigon (office) and 21:00 on Sunday in New York.
    now = at("2026-11-23 02:00", ZoneInfo("UTC"))
    assert choose(RULES, "closed", now, SAIGON) == (1, "menu:main")
    assert choose(RULES, "closed", now, ZoneInfo("America/New_York")) == (None, "closed")


def test_hours_past_midnight_and_day_ranges_that_wrap() -> None:
    night = When.parse(["fri-mon"], ["22:00-06:00"], None)
    assert choose([(night, "night")], "day", at("2026-11-23 05:59"), SAIGON) == (0, "night")  # Monday
    assert choose([(night, "night")], "day", at("2026-11-23 06:00"), SAIGON) == (None, "day")
    assert choose([(night, "night")], "day", at("2026-11-25 23:00"), SAIGON) == (None, "day")  # Wednesday
    assert parse_days("fri-mon") == {4, 5, 6, 0}
    assert parse_hours("00:00-24:00") == (0, 1440)


@pytest.mark.parametrize(("text", "message"), [
    ("0800-1700", "hours are written HH:MM-HH:MM"),
    ("08:60-09:00", "'08:60' is not a time of day"),
    ("24:00-06:00", "cannot start at 24:00"),
])
def test_bad_hours_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(text)
