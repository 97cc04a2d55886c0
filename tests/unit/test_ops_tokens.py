"""Admin API tokens in the config tree (ops/tokens.py): the section is made where it reads well,
only the hash is kept, names are unique, revoking removes the entry."""

from __future__ import annotations

import pytest

from softswitch.api.auth import Caller, authenticate, digest
from softswitch.config import load_config_text
from softswitch.ops import tokens
from softswitch.ops.document import _yaml, render
from softswitch.ops.tree import NotFound

BASE = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
accounts:
  - {name: acme, domain: acme.example}
"""


def test_add_and_revoke() -> None:
    doc = _yaml().load(BASE)
    change = tokens.add(doc, "ops", digest("ss_one"), None)
    tokens.add(doc, "acme-admin", digest("ss_two"), "acme")
    text = render(doc)
    assert text.index("api:") < text.index("accounts:") and "ss_one" not in text
    assert change.after == {"name": "ops", "account": None}
    config = load_config_text(text)
    assert config.api is not None
    assert authenticate("Bearer ss_two", list(config.api.tokens)) == Caller("acme-admin", "acme")
    assert authenticate("Bearer ss_three", list(config.api.tokens)) is None
    assert authenticate("bearer  ss_one", list(config.api.tokens)) == Caller("ops", None)
    with pytest.raises(ValueError, match="a token named 'ops' exists"):
        tokens.add(doc, "ops", digest("ss_four"), None)
    with pytest.raises(NotFound, match="no account named 'globex'"):
        tokens.add(doc, "g", digest("ss_five"), "globex")
    tokens.revoke(doc, "ops")
    config = load_config_text(render(doc))
    assert config.api is not None and [t.name for t in config.api.tokens] == ["acme-admin"]
    with pytest.raises(NotFound):
        tokens.revoke(doc, "ops")


def test_token_rules() -> None:
    same = digest("ss_x")
    text = BASE.replace("accounts:", f"api:\n  tokens:\n    - {{name: a, sha256: {same}}}\n    - {{name: a, sha256: {same}, "
                        "account: globex}\naccounts:")
    with pytest.raises(Exception) as caught:
        load_config_text(text)
    message = str(caught.value)
    assert "token name 'a' is already used" in message and "the same token as tokens[0]" in message
    assert "account 'globex' is not defined" in message
