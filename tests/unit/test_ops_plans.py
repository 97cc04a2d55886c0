"""Plan operations on a config tree (ops/plans.py): assign, remove, replace, inactive, and the
CSV import (every bad row named, nothing changed) and export (round trip)."""

from __future__ import annotations

from typing import Any

import pytest

from softswitch.config import load_config_text
from softswitch.ops import plans as ops
from softswitch.ops.document import _yaml, render
from softswitch.ops.tree import NotFound

BASE = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
plans:
  - {name: office, permission: mobile, features: [outside, park], seats: 3}
  - {name: world, permission: international, features: [outside, international]}
  - {name: basic-2019, status: legacy, retire_on: 2027-01-10, permission: mobile, features: [outside]}
accounts:
  - name: acme
    domain: acme.example
    people:
      - {id: e1, name: Lan, email: lan@acme.example, plans: [office]}
      - {id: e2, name: Minh, email: minh@acme.example, plans: [basic-2019]}
      - {id: e3, name: Hoa, email: hoa@acme.example}
      - {id: e4, name: Tuan, plans: [basic-2019, world]}
    extensions:
      - {number: "101", password: secret-101, person: e1}
      - {number: "102", password: secret-102, person: e2}
      - {number: "103", password: secret-103, person: e3}
"""


def tree() -> Any:
    return _yaml().load(BASE)


def plans_of(doc: Any, ident: str) -> list[str]:
    config = load_config_text(render(doc))
    person = config.account("acme").person(ident)  # type: ignore[union-attr]
    assert person is not None
    return person.plans


def test_assign_to_one_and_many() -> None:
    doc = tree()
    changes = ops.assign(doc, "acme", "world", ["e1", "e3"])
    assert [c.person for c in changes] == ["e1", "e3"]
    assert plans_of(doc, "e1") == ["office", "world"] and plans_of(doc, "e3") == ["world"]
    assert changes[1].before == {"plans": []} and changes[1].after == {"plans": ["world"]}
    assert ops.assign(doc, "acme", "world", ["e1"]) == []  # already has it: nothing to do
    with pytest.raises(ValueError, match="plan basic-2019 is legacy: it is not given to anyone new"):
        ops.assign(tree(), "acme", "basic-2019", ["e3"])
    with pytest.raises(NotFound, match="no plan named 'gold'"):
        ops.assign(tree(), "acme", "gold", ["e3"])
    with pytest.raises(ValueError, match="plan office has 3 seats: all taken"):
        ops.assign(tree(), "acme", "office", ["e2", "e3", "e4"])


def test_a_legacy_plan_is_not_taken_from_someone_with_no_active_plan() -> None:
    with pytest.raises(ValueError, match="person e2 has no active plan: taking legacy plan basic-2019 away"):
        ops.remove(tree(), "acme", "basic-2019", ["e2"])
    doc = tree()
    ops.remove(doc, "acme", "basic-2019", ["e4"])  # e4 keeps world
    assert plans_of(doc, "e4") == ["world"]
    ops.remove(doc, "acme", "office", ["e1"])  # an active plan may go
    assert plans_of(doc, "e1") == []
    assert "plans" not in render(doc).split("id: e1", 1)[1].split("\n", 1)[0]


def test_replace_is_one_edit_for_everyone_with_the_old_plan() -> None:
    doc = tree()
    changes = ops.replace(doc, "basic-2019", "office", account="acme")
    assert [c.person for c in changes] == ["e2", "e4"]
    assert plans_of(doc, "e2") == ["office"] and plans_of(doc, "e4") == ["office", "world"]
    with pytest.raises(ValueError, match="nobody has plan basic-2019"):
        ops.replace(doc, "basic-2019", "office")
    with pytest.raises(ValueError, match="plan office has 2 seats: all taken"):
        ops.replace(_yaml().load(BASE.replace("seats: 3", "seats: 2")), "basic-2019", "office")  # e1, e2, e4


def test_inactive_lists_people_with_legacy_plans_only() -> None:
    assert ops.inactive(tree()) == [("acme", "e2", "Minh", ("basic-2019",))]


def csv_for(rows: list[str]) -> str:
    return "ID,Name,Email,Extension,Site,Package (Required)\n" + "".join(r + "\n" for r in rows)


def test_csv_import_with_bad_rows_names_each_and_changes_nothing() -> None:
    doc = tree()
    data = csv_for([
        "e3,Hoa,,,,world",
        ",,,102,,office",  # by extension: e2
        "e9,Ghost,,,,world",  # row 4: no such person
        ",,nobody@acme.example,,,world",  # row 5
        "e1,Lan,,,,gold",  # row 6: no such plan
        "e4,Tuan,,,,",  # row 7: package required
        "e3,Hoa,,,,office",  # row 8: twice
    ])
    with pytest.raises(ops.CsvErrors) as caught:
        ops.import_csv(doc, "acme", data)
    assert caught.value.errors == [
        "row 4, column ID: no person of account acme has ID 'e9'",
        "row 5, column Email: no person of account acme has Email 'nobody@acme.example'",
        "row 6, column Package (Required): no plan named 'gold' (plans: office, world, basic-2019)",
        "row 7, column Package (Required): required",
        "row 8, column ID: person e3 is already on row 2",
    ]
    fixed = ops.import_csv(tree(), "acme", csv_for(["e3,Hoa,,,,world;office", ",,,102,,office"]))
    assert [(c.person, c.after) for c in fixed] == [("e3", {"plans": ["world", "office"]}), ("e2", {"plans": ["basic-2019", "office"]})]


def test_csv_seats_and_legacy_rows() -> None:
    with pytest.raises(ops.CsvErrors) as caught:
        ops.import_csv(tree(), "acme", csv_for(["e2,,,,,office", "e3,,,,,office", "e4,,,,,office;basic-2019"]))
    assert caught.value.errors == ["row 4, column Package (Required): plan office has 3 seats: all taken"]
    with pytest.raises(ops.CsvErrors, match="row 2, column Package \\(Required\\): plan basic-2019 is legacy"):
        ops.import_csv(tree(), "acme", csv_for(["e3,,,,,basic-2019"]))
    with pytest.raises(ops.CsvErrors, match="row 1, column Package \\(Required\\): missing"):
        ops.import_csv(tree(), "acme", "ID,Name\ne1,Lan\n")


def test_export_round_trips() -> None:
    doc = tree()
    exported = ops.export_csv(doc, "acme")
    assert exported.splitlines() == [
        "ID,Name,Email,Extension,Site,Package (Required),Status",
        "e1,Lan,lan@acme.example,101,,office,Active",
        "e2,Minh,minh@acme.example,102,,basic-2019,Inactive",
        "e3,Hoa,hoa@acme.example,103,,,No plan",
        "e4,Tuan,,,,basic-2019;world,Active",
    ]
    with_plans = "\n".join(line for line in exported.splitlines() if ",No plan" not in line) + "\n"
    assert ops.import_csv(doc, "acme", with_plans) == []  # nothing to change
    assert render(doc) == BASE and ops.export_csv(doc, "acme") == exported
