"""Calling plans: what a person's plans allow on a day (dialplan/plans.py), how the config
checks them, and outside calls refused by the router with the plan named."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from softswitch.b2bua.routing import HuntMemory, Refusal, Ring, Router
from softswitch.config import ConfigError, load_config_text
from softswitch.dialplan.plans import allowance

CONFIG = """
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
trunks:
  - {name: carrier, host: 192.0.2.50, port: 5070}
plans:
  - {name: office, permission: mobile, features: [outside, park]}
  - {name: world, permission: international, features: [outside, international, park]}
  - {name: basic-2019, status: legacy, retire_on: 2027-01-10, permission: mobile, features: [outside]}
  - {name: calls-only, permission: international, features: [park]}
accounts:
  - name: acme
    domain: acme.example
    trunk: carrier
    outbound_numbers: ["02873001234"]
    hotlines: [{number: "02873001234", trunk: carrier, destination: "101"}]
    people:
      - {id: e1, name: Office Worker, plans: [office]}
      - {id: e2, name: Old Timer, plans: [basic-2019]}
      - {id: e3, name: Traveller, plans: [basic-2019, world]}
      - {id: e4, name: No Plan}
      - {id: e5, name: Inside Only, plans: [calls-only]}
    extensions:
      - {number: "101", password: secret-101, call_permission: international, person: e1}
      - {number: "102", password: secret-102, call_permission: mobile, person: e2}
      - {number: "103", password: secret-103, call_permission: local, person: e3}
      - {number: "104", password: secret-104, call_permission: international, person: e4}
      - {number: "105", password: secret-105, call_permission: international, person: e5}
      - {number: "106", password: secret-106, call_permission: mobile}
"""

BEFORE = dt.datetime(2027, 1, 9, 12, tzinfo=dt.UTC).timestamp()  # 19:00 in Ho Chi Minh City, the 9th
RETIRED = dt.datetime(2027, 1, 9, 18, tzinfo=dt.UTC).timestamp()  # 01:00 on the 10th there: retired


def router() -> Router:
    def no_shuffle(items: list[Any]) -> None:
        pass

    return Router(load_config_text(CONFIG), lambda *_: [], HuntMemory(), busy=lambda _a: set(), address=lambda h: h,
                  shuffle=no_shuffle)


def call(r: Router, number: str, dialled: str, now: float) -> Ring | Refusal:
    account = r.config.account("acme")
    assert account is not None
    caller = account.extension(number)
    assert caller is not None
    route = r.route(account, caller, dialled, now)
    assert isinstance(route, Ring | Refusal)
    return route


MOBILE, LANDLINE, ABROAD = "0909789846", "02873009999", "+14155550100"


def test_the_lower_of_the_extension_and_the_plan_applies() -> None:
    r = router()
    assert isinstance(call(r, "101", MOBILE, BEFORE), Ring)  # office plan: mobile
    refused = call(r, "101", ABROAD, BEFORE)  # the extension may, the plan may not
    assert isinstance(refused, Refusal) and refused.status == 403
    assert refused.reason == "Forbidden (international calls are not in plan office)"
    refused = call(r, "103", MOBILE, BEFORE)  # the plans may (world), the extension may not (local)
    assert isinstance(refused, Refusal) and refused.reason == "Forbidden (mobile calls not permitted)"
    assert isinstance(call(r, "104", ABROAD, BEFORE), Ring)  # no plan: the extension's permission alone
    assert isinstance(call(r, "106", MOBILE, BEFORE), Ring)  # no person: likewise
    refused = call(r, "105", LANDLINE, BEFORE)  # international permission but no outside feature
    assert isinstance(refused, Refusal) and refused.reason == "Forbidden (local calls are not in plan calls-only)"


def test_a_retired_legacy_plan_allows_internal_calls_only_from_its_day_in_the_accounts_time_zone() -> None:
    r = router()
    assert isinstance(call(r, "102", MOBILE, BEFORE), Ring)
    refused = call(r, "102", MOBILE, RETIRED)
    assert isinstance(refused, Refusal) and refused.status == 403
    assert refused.reason == "Forbidden (plan basic-2019 (retired 2027-01-10) allows internal calls only)"
    assert isinstance(call(r, "102", "101", RETIRED), Ring)  # colleagues still
    refused = call(r, "103", LANDLINE, RETIRED)  # world is still in force for e3
    assert isinstance(refused, Ring)


def test_allowance_combines_plans_and_names_them() -> None:
    config = load_config_text(CONFIG)
    plans = [config.plan("basic-2019"), config.plan("office")]
    got = allowance([p for p in plans if p is not None], dt.date(2027, 1, 10))
    assert got is not None and got.permission == "mobile" and got.plans == ("office",)
    assert got.refuses_feature("park") is None and got.refuses_feature("recording") == "recording is not in plan office"
    assert allowance([], dt.date(2027, 1, 10)) is None


@pytest.mark.parametrize(("change", "message"), [
    ("people:\n      - {id: e1, name: A, plans: [office, nope]}", "plan 'nope' is not defined in plans"),
    ("people:\n      - {id: e1, name: A, plans: [office, office]}", "plan 'office' is already given"),
])
def test_people_name_plans_that_exist(change: str, message: str) -> None:
    text = CONFIG.replace(CONFIG[CONFIG.index("people:"):CONFIG.index("    extensions:")], change + "\n")
    text = text.replace("person: e2", "person: e1").replace("person: e3", "person: e1").replace("person: e4", "person: e1")
    text = text.replace("person: e5", "person: e1")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "plans.yaml")
    assert any(message in str(p) and str(p).startswith("plans.yaml:") for p in caught.value.problems), caught.value


def test_plan_rules() -> None:
    seats = CONFIG.replace("{name: office, permission: mobile,", "{name: office, seats: 1, permission: mobile,")
    seats = seats.replace("{id: e2, name: Old Timer, plans: [basic-2019]}", "{id: e2, name: Old Timer, plans: [office]}")
    with pytest.raises(ConfigError, match="plan 'office' has 1 seats and 2 people"):
        load_config_text(seats)
    with pytest.raises(ConfigError, match="retire_on is for legacy plans"):
        load_config_text(CONFIG.replace("status: legacy, retire_on", "retire_on"))
    with pytest.raises(ConfigError, match="plan 'world' is already defined"):
        load_config_text(CONFIG.replace("name: calls-only", "name: world"))


MINUTES = CONFIG.replace("{name: office, permission: mobile, features: [outside, park]}",
                         "{name: office, permission: mobile, features: [outside, park], minutes: {mobile: 2, local: 0}}")


def test_included_minutes_are_counted_per_month_in_the_accounts_time_zone() -> None:
    from softswitch.b2bua.record import CallRecord
    from softswitch.b2bua.routing import count_usage, month_of

    r = router()
    r.config = load_config_text(MINUTES)
    acme = r.config.account("acme")
    assert acme is not None and month_of(acme, BEFORE) == "2027-01"
    refused = call(r, "101", LANDLINE, BEFORE)
    assert isinstance(refused, Refusal) and refused.reason == \
        "Forbidden (local minutes of plan office used up this month (0 of 0))"
    assert isinstance(call(r, "101", MOBILE, BEFORE), Ring)
    calls = [CallRecord(f"c{i}", "acme", "101", MOBILE, "outbound", BEFORE - 600, answered=BEFORE - 600, ended=BEFORE - 539,
                        caller_person="e1") for i in range(2)]  # 61 s each
    old = BEFORE - 40 * 86400
    calls.append(CallRecord("c9", "acme", "101", MOBILE, "outbound", old, answered=old, ended=old + 999, caller_person="e1"))
    count_usage(r.usage, r.config, calls)
    refused = call(r, "101", MOBILE, BEFORE)  # 122 s of 2 minutes this month; last month's do not count
    assert isinstance(refused, Refusal) and refused.reason == "Forbidden (mobile minutes of plan office used up this month (2 of 2))"
    next_month = dt.datetime(2027, 1, 31, 17, 30, tzinfo=dt.UTC).timestamp()  # 00:30 on 1 February in Ho Chi Minh City
    assert isinstance(call(r, "101", MOBILE, next_month), Ring)


def test_a_plan_without_minutes_for_a_class_leaves_it_unlimited() -> None:
    config = load_config_text(MINUTES)
    plans = [config.plan("office"), config.plan("world")]
    got = allowance([p for p in plans if p is not None], dt.date(2027, 1, 9))
    assert got is not None and got.minutes == {}  # world counts no mobile minutes: no limit
    only = allowance([config.plan("office")], dt.date(2027, 1, 9))  # type: ignore[list-item]
    assert only is not None and only.minutes == {"local": 0, "mobile": 2}
