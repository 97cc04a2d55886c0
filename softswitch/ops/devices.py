"""Desk phones the switch provisions, as operations on the config tree (pure, as
``extensions``): add one to an account (its MAC, family, lines, keys and its own password for
fetching its files) or remove it.  The config's checks (a MAC in one account only, lines that
are the account's extensions) run when ``document.edit`` validates the result."""

from __future__ import annotations

from typing import Any

from ..config.schema import DEVICE_MODELS, normalise_mac
from . import tree as t
from .extensions import Change
from .tree import entry_list, node

MODELS = DEVICE_MODELS


def _devices(acc: Any) -> Any:
    return acc.get("devices") or []


def _find(acc: Any, mac: str) -> Any:
    return next((d for d in _devices(acc) if isinstance(d, dict) and _same(d.get("mac"), mac)), None)


def _same(value: Any, mac: str) -> bool:
    try:
        return isinstance(value, str) and normalise_mac(value) == mac
    except ValueError:
        return False


def add_device(tree: Any, account: str, mac: str, model: str, lines: list[str], password: str, generated: bool,
               blf: list[str], park_keys: int | None, label: str | None) -> Change:
    acc = t.account(tree, account)
    key = normalise_mac(mac)
    if model not in MODELS:
        raise ValueError(f"model {model!r}: one of {', '.join(MODELS)}")
    for other in tree.get("accounts") or []:
        if isinstance(other, dict) and _find(other, key) is not None:  # another account's name is not shown
            whose = "this account" if other is acc else "another account"
            raise ValueError(f"MAC {key} is already a device of {whose}")
    devices = entry_list(acc, "devices", before="groups")
    values: dict[str, Any] = {"mac": key, "model": model, "lines": t.seq([str(n) for n in lines], flow=True),
                              "password": password}
    if blf:
        values["blf"] = t.seq([str(n) for n in blf], flow=True)
    if park_keys is not None:
        values["park_keys"] = park_keys
    if label:
        values["label"] = label
    entry = node(values, like=devices[0] if devices else None)
    devices.append(entry)
    after = t.plain(entry)
    after["password"] = "(set)"
    return Change("device-add", account, f"device {key}", None, None, after, secret=password if generated else None)


def remove_device(tree: Any, account: str, mac: str) -> Change:
    acc = t.account(tree, account)
    key = normalise_mac(mac)
    entry = _find(acc, key)
    if entry is None:
        raise t.NotFound(f"no device {key} in account {account!r}")
    before = t.plain(entry)
    before["password"] = "(set)"
    acc["devices"].remove(entry)
    if not acc["devices"]:
        del acc["devices"]
    return Change("device-remove", account, f"device {key}", None, before, None)
