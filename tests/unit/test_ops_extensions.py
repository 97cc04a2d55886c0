"""The extension and people operations on a config tree (ops/extensions.py): what each one
changes, what follows a renumbering, and what each refuses."""

from __future__ import annotations

from typing import Any

import pytest

from softswitch.config import load_config_text
from softswitch.ops import extensions as ops
from softswitch.ops.document import _yaml, render
from softswitch.ops.tree import NotFound

BASE = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
accounts:
  - name: acme
    domain: acme.example
    people:
      - {id: e001, name: Lan Nguyen, email: lan@acme.example}
      - {id: e002, name: Minh Tran}
    sites:
      - name: hq
    hotlines: []
    menus:
      - name: main
        prompt: invalid
        options: {"1": "600", "0": "101"}
        fallback: "102"
    park: {on_expiry: parker, fallback: "101"}
    transfer: {fallback: "101"}
    pickup_groups:
      sales: ["101", "102"]
    groups:
      - {number: "600", members: ["101", "102"], overflow: "101"}
    extensions:
      # the front desk
      - {number: "101", password: "secret-101", person: e001, alias: reception}
      - {number: "102", password: "secret-102", person: e002}
"""


def tree() -> Any:
    return _yaml().load(BASE)


def test_grant_adds_an_entry_like_its_neighbours_for_a_known_person() -> None:
    doc = tree()
    change = ops.grant(doc, "acme", "103", "e002", {"alias": "sale03", "call_permission": "mobile"},
                       password="Generated-Pass-123", generated=True)
    text = render(doc)
    assert '- {number: "103", password: Generated-Pass-123, person: e002, display_name: Minh Tran, alias: sale03, ' \
        'call_permission: mobile}' in text
    assert "# the front desk" in text
    config = load_config_text(text)
    ext = config.account("acme").extension("103")  # type: ignore[union-attr]
    assert ext is not None and ext.person == "e002" and ext.call_permission == "mobile"
    assert change.secret == "Generated-Pass-123"
    assert change.after is not None and change.after["password"] == "(set)"  # never in the audit


def test_grant_refuses_a_taken_number_an_unknown_person_and_unknown_settings() -> None:
    with pytest.raises(ValueError, match="number 102 is taken: extension 102 \\(person e002\\)"):
        ops.grant(tree(), "acme", "102", "e001", {}, "x" * 20, True)
    with pytest.raises(ValueError, match="number 600 is taken: group 600"):
        ops.grant(tree(), "acme", "600", "e001", {}, "x" * 20, True)
    with pytest.raises(NotFound, match="no person 'e404'"):
        ops.grant(tree(), "acme", "103", "e404", {}, "x" * 20, True)
    with pytest.raises(NotFound, match="no account named 'globex'"):
        ops.grant(tree(), "globex", "103", "e001", {}, "x" * 20, True)
    with pytest.raises(ValueError, match="unknown setting"):
        ops.grant(tree(), "acme", "103", "e001", {"colour": "red"}, "x" * 20, True)


def test_change_number_moves_every_reference_and_frees_the_old_number() -> None:
    doc = tree()
    change = ops.change_number(doc, "acme", "101", "105")
    text = render(doc)
    config = load_config_text(text)
    acc = config.account("acme")
    assert acc is not None and acc.extension("101") is None
    assert acc.extension("105") is not None and acc.extension("105").person == "e001"  # type: ignore[union-attr]
    assert acc.groups[0].members == ["105", "102"] and acc.groups[0].overflow == "105"
    assert acc.pickup_groups["sales"] == ["105", "102"]
    assert acc.menus[0].options["0"] == "105" and acc.menus[0].options["1"] == "600"
    assert acc.park.fallback == "105" and acc.transfer.fallback == "105"
    assert change.person == "e001" and change.before is not None and change.before["number"] == "101"
    assert "group 600 members" in change.notes[0] and "menu main key 0" in change.notes[0]
    # Nothing else in the file moved: one changed line per reference.
    changed = [(a, b) for a, b in zip(BASE.splitlines(), text.splitlines(), strict=True) if a != b]
    assert len(changed) == 6  # menu, park, transfer, pick-up group, group 600, the extension


def test_stop_removes_the_entry_and_its_memberships_but_not_what_routes_calls_to_it() -> None:
    doc = tree()
    with pytest.raises(ValueError, match="extension 101 still receives calls from: group 600 overflow, "
                       "menu main key 0, park fallback, transfer fallback"):
        ops.stop(doc, "acme", "101")
    with pytest.raises(ValueError, match="extension 102 still receives calls from: menu main fallback;"):
        ops.stop(tree(), "acme", "102")


def test_stop_of_a_group_s_last_member_is_refused() -> None:
    doc = _yaml().load(BASE.replace('members: ["101", "102"]', 'members: ["102"]').replace('fallback: "102"', 'fallback: "101"'))
    with pytest.raises(ValueError, match="only member of group 600"):
        ops.stop(doc, "acme", "102")


def test_stop_leaves_groups_and_the_result_is_valid() -> None:
    doc = _yaml().load(BASE.replace('fallback: "102"', 'fallback: "101"'))
    change = ops.stop(doc, "acme", "102")
    acc = load_config_text(render(doc)).account("acme")
    assert acc is not None and acc.extension("102") is None
    assert acc.groups[0].members == ["101"] and acc.pickup_groups["sales"] == ["101"]
    assert change.after is None and change.person == "e002"


def test_password_and_update_and_people() -> None:
    doc = tree()
    change = ops.set_password(doc, "acme", "101", "N3w-Pass-Word-Here", generated=False)
    assert change.secret is None and change.before == {"password": "(old)"}
    ops.update(doc, "acme", "101", {"alias": "", "call_permission": "local"})
    ops.add_person(doc, "acme", "e003", {"name": "Hoa Le", "email": "hoa@acme.example"})
    ops.update_person(doc, "acme", "e002", {"department": "Sales"})
    acc = load_config_text(render(doc)).account("acme")
    assert acc is not None
    ext = acc.extension("101")
    assert ext is not None and ext.password == "N3w-Pass-Word-Here" and ext.alias is None and ext.call_permission == "local"
    assert [p.id for p in acc.people] == ["e001", "e002", "e003"] and acc.people[1].department == "Sales"
    with pytest.raises(ValueError, match="already exists"):
        ops.add_person(doc, "acme", "e001", {"name": "Again"})


def test_supervisors_are_set_follow_a_renumbering_and_lose_a_stopped_extension() -> None:
    doc = _yaml().load(BASE.replace('fallback: "102"', 'fallback: "101"'))
    ops.grant(doc, "acme", "103", "e002", {"supervisors": ["102", "600"]}, "x" * 20, True)
    ops.update(doc, "acme", "101", {"supervisors": ["102"]})
    acc = load_config_text(render(doc)).account("acme")
    assert acc is not None and acc.extension("103").supervisors == ["102", "600"]  # type: ignore[union-attr]
    change = ops.change_number(doc, "acme", "102", "112")
    assert "supervisors of extension 103" in change.notes[0] and "supervisors of extension 101" in change.notes[0]
    acc = load_config_text(render(doc)).account("acme")
    assert acc is not None and acc.extension("103").supervisors == ["112", "600"]  # type: ignore[union-attr]
    stopped = ops.stop(doc, "acme", "112")
    assert "supervisors of extension 101" in stopped.notes[0]
    text = render(doc)
    acc = load_config_text(text).account("acme")
    assert acc is not None and acc.extension("103").supervisors == ["600"]  # type: ignore[union-attr]
    assert acc.extension("101").supervisors == [] and "supervisors: []" not in text  # type: ignore[union-attr]
    ops.update(doc, "acme", "103", {"supervisors": []})  # cleared
    assert "supervisors" not in render(doc)


def test_supervisors_must_be_numbers_of_the_account_other_than_itself() -> None:
    from softswitch.config import ConfigError

    bad = BASE.replace('person: e002}', 'person: e002, supervisors: ["102", "199", "101", "101"]}')
    with pytest.raises(ConfigError) as caught:
        load_config_text(bad)
    messages = [p.message for p in caught.value.problems]
    assert "extension '102' cannot supervise itself" in messages
    assert "'199' is not an extension or group of this account" in messages
    assert "'101' is already a supervisor" in messages
