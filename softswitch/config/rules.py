"""Rules across entries, checked on the raw YAML tree so that they are reported in
the same pass as field errors (a bad number elsewhere must not hide them)."""

from __future__ import annotations

from typing import Any

Path = tuple[str | int, ...]


def cross_checks(tree: Any) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    accounts = tree.get("accounts") if isinstance(tree, dict) else None
    if not isinstance(accounts, list):
        return problems
    names: dict[str, int] = {}
    domains: dict[str, int] = {}
    defaults = []
    for i, acc in enumerate(accounts):
        if not isinstance(acc, dict):
            continue
        name, domain = acc.get("name"), acc.get("domain")
        if isinstance(name, str):
            if name in names:
                problems.append((("accounts", i, "name"), f"account name {name!r} is already used by accounts[{names[name]}]"))
            names.setdefault(name, i)
        if isinstance(domain, str):
            if domain.lower() in domains:
                problems.append((("accounts", i, "domain"), f"domain {domain!r} is already used by accounts[{domains[domain.lower()]}]"))
            domains.setdefault(domain.lower(), i)
        if str(acc.get("default", "")).lower() in ("true", "yes", "1", "on"):
            defaults.append(i)
        problems += _extension_checks(i, acc)
    for i in defaults[1:]:
        problems.append((("accounts", i, "default"), f"only one account may be the default (accounts[{defaults[0]}] is)"))
    return problems


def _extension_checks(i: int, acc: dict[str, Any]) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    exts = acc.get("extensions")
    if not isinstance(exts, list):
        return problems
    numbers: list[tuple[int, str]] = [
        (j, e["number"]) for j, e in enumerate(exts) if isinstance(e, dict) and isinstance(e.get("number"), str)
    ]
    lengths: dict[int, list[int]] = {}
    for j, number in numbers:
        lengths.setdefault(len(number), []).append(j)
    if len(lengths) > 1:
        # The length most entries use is taken as the account's; the others are named.
        usual = max(lengths, key=lambda n: (len(lengths[n]), -n))
        for length, idxs in sorted(lengths.items()):
            if length == usual:
                continue
            for j in idxs:
                problems.append((
                    ("accounts", i, "extensions", j, "number"),
                    f"extension {exts[j]['number']!r} has {length} digits; this account's extensions have {usual}",
                ))
    seen: dict[str, int] = {}
    aliases: dict[str, int] = {}
    for j, number in numbers:
        if number in seen:
            problems.append((("accounts", i, "extensions", j, "number"), f"extension {number!r} is already defined at extensions[{seen[number]}]"))
        seen.setdefault(number, j)
    for j, e in enumerate(exts):
        alias = e.get("alias") if isinstance(e, dict) else None
        if isinstance(alias, str):
            if alias in aliases:
                problems.append((("accounts", i, "extensions", j, "alias"), f"alias {alias!r} is already used by extensions[{aliases[alias]}]"))
            aliases.setdefault(alias, j)
    site_names = {s.get("name") for s in acc.get("sites") or [] if isinstance(s, dict)}
    for j, e in enumerate(exts):
        site = e.get("site") if isinstance(e, dict) else None
        if isinstance(site, str) and site not in site_names:
            problems.append((("accounts", i, "extensions", j, "site"), f"site {site!r} is not defined in this account's sites"))
    return problems
