"""Admin API tokens in the config tree (pure): add one (its SHA-256 only), revoke one by name."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap

from . import tree as t
from .extensions import Change
from .tree import entry_list, node


def add(tree: Any, name: str, sha256: str, account: str | None) -> Change:
    if account is not None:
        t.account(tree, account)  # NotFound
    api = tree.get("api")
    if api is None:
        api = CommentedMap()
        keys = list(tree)
        tree.insert(keys.index("accounts") if "accounts" in keys else len(keys), "api", api)
    tokens = entry_list(api, "tokens")
    if any(str(tok.get("name")) == name for tok in tokens):
        raise ValueError(f"a token named {name!r} exists: revoke it first or choose another name")
    entry = node({"name": name, "sha256": sha256, "account": account}, like=tokens[0] if tokens else None)
    entry.fa.set_flow_style()
    tokens.append(entry)
    return Change("token-add", account or "*", f"token {name}", None, None, {"name": name, "account": account})


def revoke(tree: Any, name: str) -> Change:
    api = tree.get("api") or {}
    tokens = api.get("tokens") or []
    for k, tok in enumerate(tokens):
        if str(tok.get("name")) == name:
            account = tok.get("account")
            del tokens[k]
            return Change("token-revoke", str(account) if account else "*", f"token {name}", None,
                          {"name": name, "account": account}, None)
    raise t.NotFound(f"no token named {name!r}")
