"""Which extensions a new config stops (their calls end, their watchers are told) and which it
only renumbers (calls and subscriptions follow the new number)."""

from __future__ import annotations

from softswitch.config import Config, load_config_text
from softswitch.config.moves import extension_moves

HEAD = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
accounts:
  - name: acme
    domain: acme.example
    people: [{id: e1, name: One}, {id: e2, name: Two}]
    extensions:
"""


def config(*extensions: str) -> Config:
    return load_config_text(HEAD + "".join(f"      - {e}\n" for e in extensions))


OLD = config('{number: "101", password: "secret-101", person: e1}', '{number: "102", password: "secret-102"}',
             '{number: "103", password: "secret-103"}')


def test_removed_extensions_are_stopped_but_renumbered_ones_move() -> None:
    new = config('{number: "111", password: "secret-101", person: e1}', '{number: "112", password: "secret-102"}')
    # 101's person holds 111 now (and only it): renumbered. 102 -> 112 is known only when named; 103 is gone.
    moves = extension_moves(OLD, new)
    assert moves.stopped == {"acme": {"102", "103"}}
    assert moves.moved == {("acme", "101"): "111"}
    named = extension_moves(OLD, new, {("acme", "102"): "112"})
    assert named.stopped == {"acme": {"103"}}
    assert named.moved == {("acme", "101"): "111", ("acme", "102"): "112"}
    assert named.is_stopped("acme", "103") and not named.is_stopped("acme", "102") and not named.is_stopped("acme", None)
    assert extension_moves(OLD, OLD) == extension_moves(OLD, OLD, {})
    assert extension_moves(OLD, OLD).stopped == {} and extension_moves(OLD, OLD).moved == {}


def test_a_person_keeping_another_number_is_neither_stopped_nor_moved() -> None:
    old = config('{number: "101", password: "secret-101", person: e1}', '{number: "104", password: "secret-104", person: e1}')
    new = config('{number: "104", password: "secret-104", person: e1}')
    moves = extension_moves(old, new)
    assert moves.stopped == {} and moves.moved == {}
    # Two fresh numbers for one person: which one 101 became is not known, so no move either.
    two = config('{number: "121", password: "secret-121", person: e1}', '{number: "122", password: "secret-122", person: e1}')
    assert extension_moves(old, two).moved == {}


def test_a_renumbering_named_to_a_number_the_config_lacks_stops_it() -> None:
    new = config('{number: "111", password: "secret-101", person: e1}')
    moves = extension_moves(OLD, new, {("acme", "102"): "199"})
    assert moves.stopped == {"acme": {"102", "103"}}


def test_a_removed_account_stops_all_its_extensions() -> None:
    new = load_config_text("server:\n  listen: [{transport: udp, address: 127.0.0.1}]\naccounts:\n"
                           "  - name: other\n    domain: other.example\n")
    assert extension_moves(OLD, new).stopped == {"acme": {"101", "102", "103"}}
