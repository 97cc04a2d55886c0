"""Calling plan operations on the config tree (pure): give plans to people, one, many or from a
CSV file, take them away, replace one by another, and the CSV the operator exports and imports.

A person's plans are the names in their ``plans`` list.  Rules (SPEC "Calling plans"):
a legacy plan is not given to anyone new; a legacy plan is not taken from a person who has no
active plan (it would strip their numbers and settings); a plan never has more people than its
seats; a CSV with any bad row changes nothing, and says every problem as ``row N, column C``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from . import tree as t
from .extensions import Change
from .tree import seq, text

PACKAGE = "Package (Required)"
COLUMNS = ("ID", "Name", "Email", "Extension", "Site", PACKAGE, "Status")
SEPARATOR = ";"  # several plans, or several extensions, in one cell


def _plans(tree: Any) -> dict[str, Any]:
    return {str(p.get("name")): p for p in tree.get("plans") or []}


def _plan(tree: Any, name: str) -> Any:
    plan = _plans(tree).get(name)
    if plan is None:
        raise t.NotFound(f"no plan named {name!r}")
    return plan


def _is_legacy(plan: Any) -> bool:
    return str(plan.get("status", "active")) == "legacy"


def _holders(tree: Any, name: str) -> int:
    return sum(1 for acc in tree.get("accounts") or [] for p in t.people(acc) if name in [str(x) for x in p.get("plans") or []])


def _give(person: Any, name: str) -> bool:
    held = person.get("plans")
    if held is None:
        person["plans"] = seq([text(name)], flow=True)
        return True
    if name in [str(x) for x in held]:
        return False
    held.append(text(name))
    return True


def _status(tree: Any, person: Any) -> str:
    plans = _plans(tree)
    held = [plans.get(str(n)) for n in person.get("plans") or []]
    if not held:
        return "No plan"
    return "Inactive" if all(p is not None and _is_legacy(p) for p in held) else "Active"


def assign(tree: Any, account: str, name: str, people: Sequence[str]) -> list[Change]:
    acc = t.account(tree, account)
    plan = _plan(tree, name)
    if _is_legacy(plan):
        raise ValueError(f"plan {name} is legacy: it is not given to anyone new")
    changes = []
    for ident in people:
        person = t.person(acc, ident)
        before = t.plain(person.get("plans") or [])
        if not _give(person, name):
            continue
        if (no_seat := _seat_over(tree, plan)) is not None:
            raise ValueError(no_seat)
        changes.append(Change("plan-assign", account, f"person {ident}", ident, {"plans": before},
                              {"plans": t.plain(person["plans"])}))
    return changes


def _seat_over(tree: Any, plan: Any) -> str | None:
    seats = plan.get("seats")
    if seats is not None and _holders(tree, str(plan.get("name"))) > int(seats):
        return f"plan {plan.get('name')} has {seats} seats: all taken"
    return None


def remove(tree: Any, account: str, name: str, people: Sequence[str]) -> list[Change]:
    acc = t.account(tree, account)
    plan = _plan(tree, name)
    plans = _plans(tree)
    changes = []
    for ident in people:
        person = t.person(acc, ident)
        held = [str(x) for x in person.get("plans") or []]
        if name not in held:
            raise ValueError(f"person {ident} does not have plan {name}")
        others_active = [n for n in held if n != name and n in plans and not _is_legacy(plans[n])]
        if _is_legacy(plan) and not others_active:
            raise ValueError(f"person {ident} has no active plan: taking legacy plan {name} away would strip their "
                             "numbers and settings; give them an active plan first (or use replace)")
        before = list(held)
        person["plans"].remove(next(x for x in person["plans"] if str(x) == name))
        if not person["plans"]:
            del person["plans"]
        changes.append(Change("plan-remove", account, f"person {ident}", ident, {"plans": before},
                              {"plans": t.plain(person.get("plans") or [])}))
    return changes


def replace(tree: Any, old: str, new: str, account: str | None = None, people: Sequence[str] | None = None) -> list[Change]:
    """Everyone (of ``account``, or these ``people``) with ``old`` gets ``new`` in its place, in
    one edit."""
    _plan(tree, old)
    plan = _plan(tree, new)
    if _is_legacy(plan):
        raise ValueError(f"plan {new} is legacy: it is not given to anyone new")
    accounts = [t.account(tree, account)] if account is not None else list(tree.get("accounts") or [])
    wanted = set(people) if people is not None else None
    changes = []
    for acc in accounts:
        if wanted is not None:
            for ident in wanted:
                t.person(acc, ident)  # NotFound for a person of no such id
        for person in t.people(acc):
            ident = str(person.get("id"))
            held = person.get("plans") or []
            names = [str(x) for x in held]
            if old not in names or (wanted is not None and ident not in wanted):
                continue
            before = list(names)
            at = names.index(old)
            if new in names:
                del held[at]
            else:
                held[at] = text(new)
            changes.append(Change("plan-replace", str(acc.get("name")), f"person {ident}", ident, {"plans": before},
                                  {"plans": t.plain(held)}))
    if (over := _seat_over(tree, plan)) is not None:
        raise ValueError(over)
    if not changes:
        raise ValueError(f"nobody has plan {old}" + (f" in account {account}" if account else ""))
    return changes


def inactive(tree: Any, account: str | None = None) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(account, person id, name, plans) of the people whose plans are all legacy."""
    out = []
    for acc in tree.get("accounts") or []:
        if account is not None and acc.get("name") != account:
            continue
        for person in t.people(acc):
            if _status(tree, person) == "Inactive":
                out.append((str(acc.get("name")), str(person.get("id")), str(person.get("name")),
                            tuple(str(x) for x in person.get("plans") or [])))
    return out


# --- the CSV file -----------------------------------------------------------------------


def export_csv(tree: Any, account: str) -> str:
    acc = t.account(tree, account)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for person in t.people(acc):
        ident = str(person.get("id"))
        numbers = [str(e.get("number")) for e in t.extensions(acc) if str(e.get("person")) == ident]
        writer.writerow([ident, person.get("name") or "", person.get("email") or "", SEPARATOR.join(numbers),
                         person.get("site") or "", SEPARATOR.join(str(x) for x in person.get("plans") or []),
                         _status(tree, person)])
    return out.getvalue()


class CsvErrors(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def import_csv(tree: Any, account: str, data: str) -> list[Change]:
    """Give each row's person the plans in its ``Package (Required)`` cell (several separated
    by ';'); the person is found by ``ID``, else by ``Extension``, else by ``Email``.  Raises
    ``CsvErrors`` listing every problem, and then nothing is changed (the caller discards the
    tree)."""
    acc = t.account(tree, account)
    rows = list(csv.reader(io.StringIO(data)))
    if not rows:
        raise CsvErrors(["row 1: the file is empty"])
    header = [h.strip() for h in rows[0]]
    errors: list[str] = []
    if PACKAGE not in header:
        raise CsvErrors([f"row 1, column {PACKAGE}: missing (the columns are: {', '.join(COLUMNS)})"])
    keys = [k for k in ("ID", "Extension", "Email") if k in header]
    if not keys:
        raise CsvErrors(["row 1: a column ID, Extension or Email is needed to find each person"])
    plans = _plans(tree)
    seen: dict[str, int] = {}
    wanted: list[tuple[int, Any, list[str]]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append(f"row {number}: {len(row)} cells, the header has {len(header)}")
            continue
        cells = {h: c.strip() for h, c in zip(header, row, strict=True)}
        person, where = _find(acc, cells, keys)
        if person is None:
            errors.append(f"row {number}, column {where}: no person of account {account} has {where} {cells.get(where)!r}")
            continue
        ident = str(person.get("id"))
        if ident in seen:
            errors.append(f"row {number}, column {where}: person {ident} is already on row {seen[ident]}")
            continue
        seen[ident] = number
        names = [n.strip() for n in cells[PACKAGE].split(SEPARATOR) if n.strip()]
        if not names:
            errors.append(f"row {number}, column {PACKAGE}: required")
            continue
        for name in names:
            plan = plans.get(name)
            held = [str(x) for x in person.get("plans") or []]
            if plan is None:
                errors.append(f"row {number}, column {PACKAGE}: no plan named {name!r} (plans: {', '.join(plans) or 'none'})")
            elif _is_legacy(plan) and name not in held:
                errors.append(f"row {number}, column {PACKAGE}: plan {name} is legacy: it is not given to anyone new")
        wanted.append((number, person, names))
    changes: list[Change] = []
    for number, person, names in wanted:
        before = t.plain(person.get("plans") or [])
        given = [n for n in names if n in plans and _give(person, n)]
        for name in given:
            if (over := _seat_over(tree, plans[name])) is not None:
                errors.append(f"row {number}, column {PACKAGE}: {over}")
        if given:
            ident = str(person.get("id"))
            changes.append(Change("plan-assign", account, f"person {ident}", ident, {"plans": before},
                                  {"plans": t.plain(person["plans"])}))
    if errors:
        raise CsvErrors(errors)
    return changes


def _find(acc: Any, cells: dict[str, str], keys: Iterable[str]) -> tuple[Any, str]:
    """The person a row names, and the column that named them (or the first one tried)."""
    tried = None
    for key in keys:
        value = cells.get(key, "")
        if not value:
            continue
        tried = tried or key
        if key == "ID":
            found = t.find(t.people(acc), "id", value)
        elif key == "Extension":
            numbers = value.split(SEPARATOR)
            owner = next((str(e.get("person")) for e in t.extensions(acc) if str(e.get("number")) in numbers
                          and e.get("person") is not None), None)
            found = t.find(t.people(acc), "id", owner) if owner is not None else None
        else:
            found = next((p for p in t.people(acc) if str(p.get("email") or "").lower() == value.lower()), None)
        if found is not None:
            return found, key
    return None, tried or next(iter(keys))
