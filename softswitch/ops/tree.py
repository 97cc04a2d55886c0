"""Finding things in the config tree (plain or round-trip YAML: anything dict- and list-like).

The operations edit the operator's file through these: an account by name, an extension by
number, and every place of an account that names an extension or group number as a
destination, so that a renumbering follows them all and a removal can say what still points
at the number."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, MutableSequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString


class NotFound(ValueError):
    """What an operation names does not exist (the API's 404)."""


@dataclass(frozen=True)
class Ref:
    """A place holding a number: ``parent[key]``, described for an operator."""

    parent: Any
    key: Any
    where: str
    membership: bool  # a member of a list (a group, a pick-up group): the number can just leave it


def find(items: Any, key: str, value: str) -> Any:
    """The first mapping of ``items`` whose ``key`` reads as ``value``, or None."""
    return next((item for item in items or [] if str(item.get(key)) == value), None)


def _found(item: Any, missing: str) -> MutableMapping[str, Any]:
    if item is None:
        raise NotFound(missing)
    return item  # type: ignore[no-any-return]


def account(tree: Any, name: str) -> MutableMapping[str, Any]:
    return _found(find(tree.get("accounts"), "name", name), f"no account named {name!r}")


def extensions(acc: Any) -> MutableSequence[Any]:
    return acc.get("extensions") or []


def extension(acc: Any, number: str) -> MutableMapping[str, Any]:
    return _found(find(extensions(acc), "number", number), f"no extension {number!r} in account {acc.get('name')!r}")


def people(acc: Any) -> MutableSequence[Any]:
    return acc.get("people") or []


def person(acc: Any, ident: str) -> MutableMapping[str, Any]:
    return _found(find(people(acc), "id", ident), f"no person {ident!r} in account {acc.get('name')!r}")


def number_refs(acc: Any) -> Iterator[Ref]:
    """Every place of the account that names an extension or group number (or another
    destination: callers compare the value)."""
    def items(key: str) -> list[Any]:
        value = acc.get(key)
        return list(value) if isinstance(value, list) else []

    for g in items("groups"):
        label = f"group {g.get('number')}"
        for m in range(len(g.get("members") or [])):
            yield Ref(g["members"], m, f"{label} members", True)
        if "overflow" in g:
            yield Ref(g, "overflow", f"{label} overflow", False)
    for e in items("extensions"):
        supervisors = e.get("supervisors")
        for m in range(len(supervisors) if isinstance(supervisors, list) else 0):
            yield Ref(supervisors, m, f"supervisors of extension {e.get('number')}", True)
    pickup = acc.get("pickup_groups")
    for name, members in (pickup.items() if isinstance(pickup, dict) else ()):
        for m in range(len(members or [])):
            yield Ref(members, m, f"pick-up group {name}", True)
    for menu in items("menus"):
        label = f"menu {menu.get('name')}"
        options = menu.get("options")
        for key in (options or {}):
            yield Ref(options, key, f"{label} key {key}", False)
        if "fallback" in menu:
            yield Ref(menu, "fallback", f"{label} fallback", False)
    for h in items("hotlines"):
        label = f"hotline {h.get('number')}"
        if "destination" in h:
            yield Ref(h, "destination", label, False)
        for r, rule in enumerate(h.get("scenario") or []):
            if "destination" in rule:
                yield Ref(rule, "destination", f"{label} rule {rule.get('name') or r + 1}", False)
    for x in items("external_groups"):
        if "overflow" in x:
            yield Ref(x, "overflow", f"external group {x.get('name')} overflow", False)
    parks: list[tuple[str, Any]] = [("park", acc.get("park"))]
    parks += [(f"site {s.get('name')} park", s.get("park")) for s in items("sites")]
    for label, park in parks:
        for key in ("on_expiry", "fallback"):
            if isinstance(park, dict) and key in park:
                yield Ref(park, key, f"{label} {key}", False)
    for d in items("devices"):
        label = f"device {d.get('mac')}"
        for key, what in (("lines", "lines"), ("blf", "BLF keys")):
            numbers = d.get(key)
            for m in range(len(numbers) if isinstance(numbers, list) else 0):
                yield Ref(numbers, m, f"{label} {what}", True)
    transfer = acc.get("transfer")
    if isinstance(transfer, dict) and "fallback" in transfer:
        yield Ref(transfer, "fallback", "transfer fallback", False)


def refs_to(acc: Any, number: str) -> list[Ref]:
    return [r for r in number_refs(acc) if str(r.parent[r.key]) == number]


def plain(value: Any) -> Any:
    """A copy as plain dicts, lists and strings (for the audit's before/after)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


# --- building nodes that look like their neighbours --------------------------------------


def text(value: str) -> str:
    """A string value as the file would write it: quoted when YAML would read it as another
    type (a number like ``"0123"``, ``yes``, ``null``)."""
    needs_quotes = value == "" or value.lstrip("+-").replace(".", "", 1).isdigit() or value.lower() in (
        "yes", "no", "true", "false", "on", "off", "null", "~", "y", "n")
    return DoubleQuotedScalarString(value) if needs_quotes else value


def node(entries: dict[str, Any], like: Any = None) -> CommentedMap:
    """A mapping for a list whose items look like ``like`` (flow ``{...}`` if it is one)."""
    out = CommentedMap()
    for key, value in entries.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = text(value)
        elif isinstance(value, list):
            value = seq([text(v) if isinstance(v, str) else v for v in value], flow=True)
        out[key] = value
    if isinstance(like, CommentedMap) and like.fa.flow_style():
        out.fa.set_flow_style()
    return out


def seq(items: list[Any], flow: bool = False) -> CommentedSeq:
    out = CommentedSeq(items)
    if flow:
        out.fa.set_flow_style()
    return out


def entry_list(parent: Any, key: str, before: str | None = None) -> Any:
    """``parent[key]`` as a list, created (block style) if missing: just ahead of the key
    ``before`` where the parent has it, else at the end."""
    value = parent.get(key)
    if value is None:
        value = CommentedSeq()
        keys = list(parent)
        if before in keys and isinstance(parent, CommentedMap):
            parent.insert(keys.index(before), key, value)
        else:
            parent[key] = value
    return value
