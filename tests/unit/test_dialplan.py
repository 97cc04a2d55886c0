"""Dialled numbers inside the caller's account; call permission by number class (Vietnam plan)."""

from __future__ import annotations

import pytest

from softswitch.config.schema import Account, Extension, Numbering
from softswitch.dialplan.resolve import CallOutside, Refuse, RingExtension, RingGroup, classify, normalise, resolve

NUMBERING = Numbering()


def account(permission: str = "mobile") -> Account:
    return Account(name="acme", domain="acme.example", extensions=[
        Extension(number="101", password="secret-101", call_permission=permission),  # type: ignore[arg-type]
        Extension(number="102", password="secret-102", alias="sale01"),
    ])


@pytest.mark.parametrize(("dialled", "expected"), [
    ("0241234567", "local"), ("02812345678", "local"), ("0909789846", "mobile"), ("0312345678", "mobile"),
    ("0012025550123", "international"), ("+12025550123", "international"), ("+84909789846", "mobile"),
    ("090 978-9846", "mobile"), ("0612345678", None), ("090978984", None), ("024123456", None),
])
def test_vietnam_number_classes(dialled: str, expected: str | None) -> None:
    assert classify(normalise(dialled, NUMBERING), NUMBERING) == expected


def test_extensions_and_aliases_resolve_in_the_callers_account() -> None:
    acc = account()
    caller = acc.extensions[0]
    got = resolve(acc, caller, "102", NUMBERING)
    assert isinstance(got, RingExtension) and got.extension.number == "102" and got.account.name == "acme"
    alias = resolve(acc, caller, "sale01", NUMBERING)
    assert isinstance(alias, RingExtension) and alias.extension.number == "102"
    unknown = resolve(acc, caller, "199", NUMBERING)
    assert isinstance(unknown, Refuse) and unknown.status == 404


@pytest.mark.parametrize(("permission", "dialled", "status"), [
    ("internal", "0241234567", 403), ("local", "0241234567", None), ("local", "0909789846", 403),
    ("mobile", "0909789846", None), ("mobile", "0012025550123", 403), ("mobile", "+12025550123", 403),
    ("international", "+12025550123", None),
])
def test_permission_levels_include_the_ones_below(permission: str, dialled: str, status: int | None) -> None:
    acc = account(permission)
    got = resolve(acc, acc.extensions[0], dialled, NUMBERING)
    if status is None:
        assert isinstance(got, CallOutside)
    else:
        assert isinstance(got, Refuse) and got.status == status and "not permitted" in got.reason


def test_default_permission_is_internal() -> None:
    assert Extension(number="101", password="secret-101").call_permission == "internal"


def test_group_numbers_and_do_not_disturb() -> None:
    acc = Account.model_validate({
        "name": "acme", "domain": "acme.example",
        "extensions": [{"number": "101", "password": "secret-101"}, {"number": "102", "password": "secret-102", "dnd": True}],
        "groups": [{"number": "600", "members": ["101", "102"]}],
    })
    caller = acc.extensions[0]
    got = resolve(acc, caller, "600", Numbering())
    assert isinstance(got, RingGroup) and got.group.number == "600"
    busy = resolve(acc, caller, "102", Numbering())
    assert isinstance(busy, Refuse) and (busy.status, busy.reason) == (486, "Busy Here (Do Not Disturb)")
