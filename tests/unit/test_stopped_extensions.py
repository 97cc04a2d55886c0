"""Which extensions a new config stops (their calls end) and which it only renumbers."""

from __future__ import annotations

from softswitch.b2bua.service import _stopped
from softswitch.config import Config, load_config_text

HEAD = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
accounts:
  - name: acme
    domain: acme.example
    people: [{id: e1, name: One}]
    extensions:
"""


def config(*extensions: str) -> Config:
    return load_config_text(HEAD + "".join(f"      - {e}\n" for e in extensions))


def test_removed_extensions_are_stopped_but_renumbered_ones_are_not() -> None:
    old = config('{number: "101", password: "secret-101", person: e1}', '{number: "102", password: "secret-102"}',
                 '{number: "103", password: "secret-103"}')
    new = config('{number: "111", password: "secret-101", person: e1}', '{number: "112", password: "secret-102"}')
    # 101's person holds 111 now: renumbered. 102 -> 112 is known only when named; 103 is gone.
    assert _stopped(old, new, set()) == {"acme": {"102", "103"}}
    assert _stopped(old, new, {("acme", "102")}) == {"acme": {"103"}}
    assert _stopped(old, old, set()) == {}
