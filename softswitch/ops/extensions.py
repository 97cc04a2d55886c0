"""Extension and people operations on the config tree (pure: no file, no clock, no network).

Each operation mutates the round-trip tree of the operator's file (``document.edit`` writes
it only if the result is valid) and returns a ``Change``: what was done to whom, the entry
before and after (the audit row), and a generated password to show once.  A refusal is a
``ValueError`` (``NotFound`` for what does not exist) with a message for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import tree as t
from .tree import entry_list, node, text

# Settings an operator may give when granting or updating an extension (the schema checks values).
SETTINGS = ("alias", "display_name", "call_permission", "department", "site", "description",
            "ring_timeout", "dnd", "outbound_group", "supervisors")
PERSON_FIELDS = ("name", "email", "department", "site")


@dataclass(frozen=True)
class Change:
    action: str
    account: str
    subject: str  # "extension 101", "person e001"
    person: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    secret: str | None = None  # a password the operator must be shown (once)
    notes: tuple[str, ...] = field(default=())
    extension: str | None = None  # the extension's number after the change (login information is for it)

    @property
    def renumbered(self) -> tuple[str, str] | None:
        """(old, new) number of a renumbered extension: its calls go on."""
        if self.action != "change-number" or self.before is None or self.after is None:
            return None
        return str(self.before["number"]), str(self.after["number"])

    def summary(self) -> str:
        text = f"{self.action} {self.subject} ({self.account})"
        return text + "".join(f"; {n}" for n in self.notes)


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(SETTINGS) - {"routing", "outbound_numbers"}
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: {', '.join(SETTINGS)}")
    return {k: v for k, v in values.items() if v is not None}


def _number_taken(acc: Any, number: str) -> str | None:
    ext = t.find(t.extensions(acc), "number", number)
    if ext is not None:
        owner = ext.get("person")
        return f"extension {number}" + (f" (person {owner})" if owner else "")
    group = t.find(acc.get("groups"), "number", number)
    if group is not None:
        return f"group {number} ({group.get('name') or 'no name'})"
    return None


def add_person(tree: Any, account: str, ident: str, values: dict[str, Any]) -> Change:
    acc = t.account(tree, account)
    if t.find(t.people(acc), "id", ident) is not None:
        raise ValueError(f"person {ident!r} already exists in account {account!r}")
    _person_fields(values)
    people = entry_list(acc, "people", before="extensions")
    entry = node({"id": ident, **{k: v for k, v in values.items() if v is not None}}, like=people[0] if people else None)
    people.append(entry)
    return Change("person-add", account, f"person {ident}", ident, None, t.plain(entry))


def update_person(tree: Any, account: str, ident: str, values: dict[str, Any]) -> Change:
    acc = t.account(tree, account)
    entry = t.person(acc, ident)
    before = t.plain(entry)
    _person_fields(values)
    _set(entry, values)
    return Change("person-update", account, f"person {ident}", ident, before, t.plain(entry))


def _person_fields(values: dict[str, Any]) -> None:
    unknown = set(values) - set(PERSON_FIELDS)
    if unknown:
        raise ValueError(f"unknown person field(s): {', '.join(sorted(unknown))}; known: {', '.join(PERSON_FIELDS)}")


def _set(entry: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if value == "" or value == []:
            entry.pop(key, None)  # an empty value clears the setting
        elif isinstance(value, list):
            entry[key] = t.seq([text(v) if isinstance(v, str) else v for v in value], flow=True)
        else:
            entry[key] = text(value) if isinstance(value, str) else value


def grant(tree: Any, account: str, number: str, person: str, settings: dict[str, Any],
          password: str, generated: bool) -> Change:
    """A new extension ``number`` for ``person``; a ``generated`` password is shown once."""
    acc = t.account(tree, account)
    owner = t.person(acc, person)
    taken = _number_taken(acc, number)
    if taken is not None:
        raise ValueError(f"number {number} is taken: {taken}")
    values = _settings(settings)
    exts = entry_list(acc, "extensions")
    entry = node({
        "number": number, "password": password, "person": person,
        "display_name": values.pop("display_name", None) or owner.get("name"),
        **values,
    }, like=exts[0] if exts else None)
    exts.append(entry)
    return Change("grant", account, f"extension {number}", person, None, _masked(entry),
                  secret=password if generated else None, extension=number)


def update(tree: Any, account: str, number: str, settings: dict[str, Any]) -> Change:
    """Change an extension's settings (alias, permission, ...); an empty value clears one."""
    acc = t.account(tree, account)
    entry = t.extension(acc, number)
    before = _masked(entry)
    _set(entry, _settings(settings))
    return Change("update", account, f"extension {number}", _person(entry), before, _masked(entry), extension=number)


def set_password(tree: Any, account: str, number: str, password: str, generated: bool) -> Change:
    acc = t.account(tree, account)
    entry = t.extension(acc, number)
    entry["password"] = text(password)
    # Never the password itself in the audit: only that it changed.
    return Change("password", account, f"extension {number}", _person(entry), {"password": "(old)"},
                  {"password": "(new)"}, secret=password if generated else None, extension=number)


def stop(tree: Any, account: str, number: str) -> Change:
    """Revoke an extension: it leaves its groups, pick-up groups and the supervisors of others,
    and its entry goes; the number is free.  Refused while a hotline, menu, overflow or park setting still sends calls
    to it (the operator points those elsewhere first), or when it is a group's last member."""
    acc = t.account(tree, account)
    entry = t.extension(acc, number)
    refs = t.refs_to(acc, number)
    routed = [r.where for r in refs if not r.membership]
    if routed:
        raise ValueError(f"extension {number} still receives calls from: {', '.join(routed)}; point those elsewhere first")
    left: list[str] = []
    for ref in sorted((r for r in refs if r.membership), key=lambda r: -int(r.key)):
        members = ref.parent
        if len(members) == 1 and ref.where.startswith("group "):
            raise ValueError(f"extension {number} is the only member of {ref.where.removesuffix(' members')}: "
                             "give the group another member or remove the group first")
        if len(members) == 1 and ref.where.endswith(" lines"):
            raise ValueError(f"extension {number} is the only line of {ref.where.removesuffix(' lines')}: "
                             "give the phone another line or remove it first (softswitch phones remove)")
        del members[ref.key]
        left.append(ref.where.removesuffix(" members"))
    for other in t.extensions(acc):
        if other.get("supervisors") == []:
            del other["supervisors"]  # it supervised this one only
    before = _masked(entry)
    t.extensions(acc).remove(entry)
    notes = (f"left {', '.join(sorted(left))}",) if left else ()
    return Change("stop", account, f"extension {number}", _person(entry), before, None, notes=notes)


def change_number(tree: Any, account: str, old: str, new: str) -> Change:
    """Renumber an extension: its settings, group memberships and every destination naming
    the old number follow; the old number is free."""
    acc = t.account(tree, account)
    entry = t.extension(acc, old)
    taken = _number_taken(acc, new)
    if taken is not None:
        raise ValueError(f"number {new} is taken: {taken}")
    before = _masked(entry)
    moved = []
    for ref in t.refs_to(acc, old):
        ref.parent[ref.key] = text(new)
        moved.append(ref.where)
    entry["number"] = text(new)
    notes = (f"now {new} in: {', '.join(moved)}",) if moved else ()
    return Change("change-number", account, f"extension {old} -> {new}", _person(entry), before, _masked(entry), notes=notes,
                  extension=new)


def _person(entry: Any) -> str | None:
    value = entry.get("person")
    return None if value is None else str(value)


def _masked(entry: Any) -> dict[str, Any]:
    out: dict[str, Any] = t.plain(entry)
    if "password" in out:
        out["password"] = "(set)"
    return out
