"""Rules across entries, checked on the raw YAML tree so that they are reported in
the same pass as field errors (a bad number elsewhere must not hide them)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import ValidationError

from ..dialplan.resolve import classify, normalise
from ..sounds import PROMPTS
from .schema import Numbering, Park, Pickup, Supervision, Voicemail, is_recording_name, normalise_mac

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
        problems += _code_checks(i, acc)
    for i in defaults[1:]:
        problems.append((("accounts", i, "default"), f"only one account may be the default (accounts[{defaults[0]}] is)"))
    problems += _plan_checks(tree, accounts)
    problems += _api_checks(tree, names)
    problems += _trunk_checks(tree, accounts)
    problems += _external_group_checks(tree, accounts)
    problems += _device_checks(accounts)
    problems += _cluster_checks(tree)
    return problems


def _cluster_checks(tree: dict[str, Any]) -> list[tuple[Path, str]]:
    """Nodes share their state through PostgreSQL (its notifications carry the changes)."""
    store = tree.get("store")
    url = store.get("url") if isinstance(store, dict) else None
    if isinstance(tree.get("cluster"), dict) and not (isinstance(url, str) and url.startswith("postgresql")):
        return [(("cluster",), "a cluster needs a shared PostgreSQL store (store.url: postgresql+asyncpg://...)")]
    return []


def _mac(value: Any) -> str | None:
    try:
        return normalise_mac(value) if isinstance(value, str) else None
    except ValueError:
        return None  # the field's own check says so


def _device_checks(accounts: list[Any]) -> list[tuple[Path, str]]:
    """A MAC belongs to one device of one account; a device's lines and BLF keys are
    extensions of its account, and its site one of the account's sites."""
    problems: list[tuple[Path, str]] = []
    macs: dict[str, tuple[int, int]] = {}
    for i, acc in enumerate(accounts):
        if not isinstance(acc, dict):
            continue
        numbers = {str(e.get("number")) for e in acc.get("extensions") or [] if isinstance(e, dict)}
        sites = {s.get("name") for s in acc.get("sites") or [] if isinstance(s, dict)}
        for k, device in enumerate(acc.get("devices") or []):
            if not isinstance(device, dict):
                continue
            where = ("accounts", i, "devices", k)
            mac = device.get("mac")
            key = _mac(mac)
            if key is not None:
                if key in macs:
                    first = macs[key]
                    problems.append(((*where, "mac"), f"MAC {mac} is already the device at accounts[{first[0]}].devices[{first[1]}]"))
                macs.setdefault(key, (i, k))
            lines = [str(x) for x in device.get("lines") or []] if isinstance(device.get("lines"), list) else []
            for n, line in enumerate(lines):
                if line not in numbers:
                    problems.append(((*where, "lines", n), f"extension {line!r} is not in this account"))
                elif lines.index(line) != n:
                    problems.append(((*where, "lines", n), f"extension {line!r} is on this device's lines already"))
            blf = device.get("blf")
            for n, watched in enumerate(blf if isinstance(blf, list) else []):
                if str(watched) not in numbers:
                    problems.append(((*where, "blf", n), f"extension {watched!r} is not in this account"))
            site = device.get("site")
            if isinstance(site, str) and site not in sites:
                problems.append(((*where, "site"), f"site {site!r} is not defined in this account's sites"))
    return problems


def _api_checks(tree: dict[str, Any], accounts: dict[str, int]) -> list[tuple[Path, str]]:
    api = tree.get("api")
    tokens = api.get("tokens") if isinstance(api, dict) else None
    problems: list[tuple[Path, str]] = []
    names: dict[str, int] = {}
    hashes: dict[str, int] = {}
    for k, token in enumerate(tokens if isinstance(tokens, list) else []):
        if not isinstance(token, dict):
            continue
        name, sha, account = token.get("name"), token.get("sha256"), token.get("account")
        if isinstance(name, str):
            if name in names:
                problems.append((("api", "tokens", k, "name"), f"token name {name!r} is already used by tokens[{names[name]}]"))
            names.setdefault(name, k)
        if isinstance(sha, str):
            if sha.lower() in hashes:
                problems.append((("api", "tokens", k, "sha256"), f"the same token as tokens[{hashes[sha.lower()]}]"))
            hashes.setdefault(sha.lower(), k)
        if isinstance(account, str) and account not in accounts:
            problems.append((("api", "tokens", k, "account"), f"account {account!r} is not defined"))
    return problems


def _plan_checks(tree: dict[str, Any], accounts: list[Any]) -> list[tuple[Path, str]]:
    """Plan names are unique; people name plans that exist, once each; no plan has more people
    than its seats."""
    problems: list[tuple[Path, str]] = []
    plans = _names(tree.get("plans"))
    problems += _repeated("plans", plans, "plan {!r} is already defined")
    holders: dict[str, int] = {}
    for i, acc in enumerate(accounts):
        for k, person in enumerate(acc.get("people") or [] if isinstance(acc, dict) else []):
            raw = person.get("plans") if isinstance(person, dict) else None
            named: list[Any] = raw if isinstance(raw, list) else []
            for m, plan in enumerate(named):
                if not isinstance(plan, str):
                    continue
                path: Path = ("accounts", i, "people", k, "plans", m)
                if plan not in plans:
                    problems.append((path, f"plan {plan!r} is not defined in plans"))
                elif plan in named[:m]:
                    problems.append((path, f"plan {plan!r} is already given"))
                else:
                    holders[plan] = holders.get(plan, 0) + 1
    for j, plan in enumerate(tree.get("plans") or []):
        if isinstance(plan, dict) and isinstance(plan.get("name"), str) and str(plan.get("seats", "")).isdigit():
            seats, held = int(plan["seats"]), holders.get(plan["name"], 0)
            if held > seats:
                problems.append((("plans", j, "seats"), f"plan {plan['name']!r} has {seats} seats and {held} people"))
    return problems


def _repeated(section: str, names: list[str], message: str) -> list[tuple[Path, str]]:
    """A problem for each name of ``section`` used before (``message`` formats the name)."""
    return [((section, j, "name"), message.format(name)) for j, name in enumerate(names) if name in names[:j]]


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(t["name"]) for t in items if isinstance(t, dict) and isinstance(t.get("name"), str)]


def _trunk_checks(tree: dict[str, Any], accounts: list[Any]) -> list[tuple[Path, str]]:
    """Trunk names, hotline numbers and what refers to them (SPEC "Trunks", "Hotlines")."""
    problems: list[tuple[Path, str]] = []
    trunks = _names(tree.get("trunks"))
    problems += _repeated("trunks", trunks, "trunk name {!r} is already used")
    hotline_owner: dict[str, str] = {}
    for i, acc in enumerate(accounts):
        if not isinstance(acc, dict):
            continue
        trunk = acc.get("trunk")
        if isinstance(trunk, str) and trunk not in trunks:
            problems.append((("accounts", i, "trunk"), f"trunk {trunk!r} is not defined in trunks"))
        numbers = {e.get("number") for e in acc.get("extensions") or [] if isinstance(e, dict)}
        numbers |= {g.get("number") for g in acc.get("groups") or [] if isinstance(g, dict)}
        hotlines: list[str] = []
        for k, h in enumerate(acc.get("hotlines") or []):
            if not isinstance(h, dict):
                continue
            number, htrunk = h.get("number"), h.get("trunk")
            if isinstance(htrunk, str) and htrunk not in trunks:
                problems.append((("accounts", i, "hotlines", k, "trunk"), f"trunk {htrunk!r} is not defined in trunks"))
            if isinstance(number, str):
                if number in hotline_owner:
                    problems.append((("accounts", i, "hotlines", k, "number"), f"hotline {number!r} already belongs to account {hotline_owner[number]!r}"))
                hotline_owner.setdefault(number, str(acc.get("name")))
                hotlines.append(number)
        paths: list[tuple[Path, Any]] = [(("accounts", i, "outbound_numbers"), acc.get("outbound_numbers"))]
        groups = acc.get("outbound_groups")
        groups = groups if isinstance(groups, dict) else {}
        for name, numbers in groups.items():
            paths.append((("accounts", i, "outbound_groups", name), numbers))
            if isinstance(numbers, list) and not numbers:
                problems.append((("accounts", i, "outbound_groups", name), "a group needs at least one number"))
        for j, e in enumerate(acc.get("extensions") or []):
            if isinstance(e, dict):
                paths.append((("accounts", i, "extensions", j, "outbound_numbers"), e.get("outbound_numbers")))
                group = e.get("outbound_group")
                if isinstance(group, str) and group not in groups:
                    problems.append((("accounts", i, "extensions", j, "outbound_group"),
                                     f"outbound group {group!r} is not defined in this account's outbound_groups"))
                if group is not None and e.get("outbound_numbers") is not None:
                    problems.append((("accounts", i, "extensions", j, "outbound_group"),
                                     "give outbound_numbers or an outbound_group, not both"))
                routing = e.get("routing")
                if isinstance(routing, dict) and routing.get("type") == "designated" and not isinstance(trunk, str):
                    problems.append((("accounts", i, "extensions", j, "routing"), "a designated number is rung through a trunk: set the account's trunk"))
        for path, value in paths:
            for n, num in enumerate(value if isinstance(value, list) else []):
                if isinstance(num, str) and num not in hotlines:
                    problems.append(((*path, n), f"{num!r} is not one of this account's hotlines (a provider rejects caller IDs it did not issue)"))
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
    problems += _people_checks(i, acc, site_names)
    people = {str(p.get("id")) for p in acc.get("people") or [] if isinstance(p, dict)}
    for j, e in enumerate(exts):
        person = e.get("person") if isinstance(e, dict) else None
        if isinstance(person, str) and person not in people:
            problems.append((("accounts", i, "extensions", j, "person"), f"person {person!r} is not one of this account's people"))
    groups = {str(g["number"]) for g in acc.get("groups") or [] if isinstance(g, dict) and isinstance(g.get("number"), str)}
    problems += _supervisor_checks(i, exts, {n for _, n in numbers} | groups)
    for j, e in enumerate(exts):
        site = e.get("site") if isinstance(e, dict) else None
        if isinstance(site, str) and site not in site_names:
            problems.append((("accounts", i, "extensions", j, "site"), f"site {site!r} is not defined in this account's sites"))
    return (problems + _park_checks(i, acc, {n for _, n in numbers} | groups) + _group_checks(i, acc, dict((n, j) for j, n in numbers))
            + _routing_checks(i, acc, {n for _, n in numbers} | groups))


def _supervisor_checks(i: int, exts: list[Any], numbers: set[str]) -> list[tuple[Path, str]]:
    """Supervisors are extensions or groups of the same account, each named once, not the
    extension itself."""
    problems: list[tuple[Path, str]] = []
    for j, e in enumerate(exts):
        raw = e.get("supervisors") if isinstance(e, dict) else None
        named: list[Any] = raw if isinstance(raw, list) else []
        for m, who in enumerate(named):
            path: Path = ("accounts", i, "extensions", j, "supervisors", m)
            if not isinstance(who, str):
                continue
            if who == e.get("number"):
                problems.append((path, f"extension {who!r} cannot supervise itself"))
            elif who not in numbers:
                problems.append((path, f"{who!r} is not an extension or group of this account"))
            elif who in named[:m]:
                problems.append((path, f"{who!r} is already a supervisor"))
    return problems


def _people_checks(i: int, acc: dict[str, Any], site_names: set[Any]) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    seen: dict[str, int] = {}
    for k, p in enumerate(acc.get("people") or []):
        if not isinstance(p, dict):
            continue
        ident, site = p.get("id"), p.get("site")
        if isinstance(ident, str):
            if ident in seen:
                problems.append((("accounts", i, "people", k, "id"), f"person {ident!r} is already defined at people[{seen[ident]}]"))
            seen.setdefault(ident, k)
        if isinstance(site, str) and site not in site_names:
            problems.append((("accounts", i, "people", k, "site"), f"site {site!r} is not defined in this account's sites"))
    return problems


def _routing_checks(i: int, acc: dict[str, Any], numbers: set[str]) -> list[tuple[Path, str]]:
    """What hotlines (their scenarios) and menus send calls to exists in the account: numbers
    of its plan, its menus, its recordings (or the switch's own prompts)."""
    problems: list[tuple[Path, str]] = []
    raw = acc.get("recordings")
    recordings = set(raw) if isinstance(raw, dict) else set()
    extensions = {e.get("number") for e in acc.get("extensions") or [] if isinstance(e, dict)}
    menus: dict[str, int] = {}
    for k, menu in enumerate(acc.get("menus") or []):
        name = menu.get("name") if isinstance(menu, dict) else None
        if isinstance(name, str):
            if name in menus:
                problems.append((("accounts", i, "menus", k, "name"), f"menu {name!r} is already defined at menus[{menus[name]}]"))
            menus.setdefault(name, k)

    externals = set(_names(acc.get("external_groups")))

    def recording(path: Path, name: Any) -> None:
        if isinstance(name, str) and name not in recordings and name not in PROMPTS:
            problems.append((path, f"{name!r} is not a recording of this account nor one of the switch's prompts"))

    def destination(path: Path, value: Any) -> None:
        if not isinstance(value, str):
            return
        kind, colon, name = value.partition(":")
        if not colon and value.isdigit() and value not in numbers:
            problems.append((path, f"{value!r} is not an extension or group of this account"))
        elif colon and kind == "menu" and name not in menus:
            problems.append((path, f"menu {name!r} is not defined in this account's menus"))
        elif colon and kind == "external" and name not in externals:
            problems.append((path, f"external group {name!r} is not defined in this account's external_groups"))
        elif colon and kind == "announcement":
            recording(path, name)
        elif colon and kind == "voicemail" and name not in extensions:
            problems.append((path, f"{name!r} is not an extension of this account (a mailbox is an extension's)"))

    for k, h in enumerate(acc.get("hotlines") or []):
        if isinstance(h, dict):
            destination(("accounts", i, "hotlines", k, "destination"), h.get("destination"))
            for r, rule in enumerate(h.get("scenario") or []):
                if isinstance(rule, dict):
                    destination(("accounts", i, "hotlines", k, "scenario", r, "destination"), rule.get("destination"))
    for k, menu in enumerate(acc.get("menus") or []):
        if not isinstance(menu, dict):
            continue
        path: Path = ("accounts", i, "menus", k)
        recording((*path, "prompt"), menu.get("prompt"))
        recording((*path, "invalid_prompt"), menu.get("invalid_prompt"))
        destination((*path, "fallback"), menu.get("fallback"))
        options = menu.get("options")
        for key, value in options.items() if isinstance(options, dict) else ():
            destination((*path, "options", key), value)
    for section, key in (("recording", "announce"), ("voicemail", "greeting")):
        settings = acc.get(section)
        if isinstance(settings, dict):
            recording(("accounts", i, section, key), settings.get(key))
    for k, group in enumerate(acc.get("external_groups") or []):
        if isinstance(group, dict):
            path = ("accounts", i, "external_groups", k)
            recording((*path, "confirm_prompt"), group.get("confirm_prompt"))
            overflow = group.get("overflow")
            destination((*path, "overflow"), overflow)
            if isinstance(overflow, str) and overflow.partition(":")[0] in ("menu", "announcement"):
                problems.append(((*path, "overflow"), "the overflow is rung after the members: an extension, a group, "
                                 "an external group or 'hangup'"))
    return problems


def _numbering(tree: dict[str, Any]) -> Numbering:
    """The numbering plan the config sets; the default one where its own is not valid (its
    problems are reported where it is)."""
    try:
        return Numbering.model_validate(tree.get("numbering") or {})
    except ValidationError:
        return Numbering()


def _external_group_checks(tree: dict[str, Any], accounts: list[Any]) -> list[tuple[Path, str]]:
    """An external group works only when its members can be called: a trunk to ring them
    through, and numbers the numbering plan knows as outside numbers (SPEC "Groups")."""
    problems: list[tuple[Path, str]] = []
    trunks = _names(tree.get("trunks"))
    numbering = _numbering(tree)
    classes = ", ".join(c.name for c in numbering.classes)
    sms = isinstance(tree.get("sms"), dict)
    for i, acc in enumerate(accounts):
        if not isinstance(acc, dict):
            continue
        seen: dict[str, int] = {}
        for k, group in enumerate(acc.get("external_groups") or []):
            if not isinstance(group, dict):
                continue
            path: Path = ("accounts", i, "external_groups", k)
            name = group.get("name")
            if isinstance(name, str):
                if name in seen:
                    problems.append(((*path, "name"), f"external group {name!r} is already defined at external_groups[{seen[name]}]"))
                seen.setdefault(name, k)
            trunk = group.get("trunk") or acc.get("trunk")
            if not isinstance(trunk, str):
                problems.append((path, "its members are outside numbers rung through a trunk: set its trunk or the account's"))
            elif trunk not in trunks:
                problems.append(((*path, "trunk"), f"trunk {trunk!r} is not defined in trunks"))
            if str(group.get("sms", "")).lower() in ("true", "yes", "1", "on") and not sms:
                problems.append(((*path, "sms"), "texting the members needs an SMS provider: set sms (a webhook) at the top"))
            raw = group.get("members")
            members: list[Any] = raw if isinstance(raw, list) else []
            for m, number in enumerate(members):
                if not isinstance(number, str):
                    continue
                if classify(normalise(number, numbering), numbering) is None:
                    problems.append(((*path, "members", m), f"{number!r} is not a number the trunk can call: it matches no "
                                     f"numbering class ({classes})"))
                elif number in members[:m]:
                    problems.append(((*path, "members", m), f"{number!r} is already a member"))
    return problems


def _group_checks(i: int, acc: dict[str, Any], extensions: dict[str, int]) -> list[tuple[Path, str]]:
    """Group numbers are free numbers of the extension plan; members are extensions; overflow
    goes to an extension, a group or 'hangup', and never round in a circle."""
    problems: list[tuple[Path, str]] = []
    groups = [(k, g) for k, g in enumerate(acc.get("groups") or []) if isinstance(g, dict)]
    sizes = Counter(len(n) for n in extensions)
    length = max(sizes, key=lambda size: (sizes[size], -size)) if sizes else None  # as _extension_checks
    seen: dict[str, int] = {}
    overflow: dict[str, str] = {}
    for k, g in groups:
        path: Path = ("accounts", i, "groups", k)
        number = g.get("number")
        if isinstance(number, str):
            if number in extensions:
                problems.append(((*path, "number"), f"group {number!r} is already extension {number!r} (extensions[{extensions[number]}])"))
            elif number in seen:
                problems.append(((*path, "number"), f"group {number!r} is already defined at groups[{seen[number]}]"))
            elif length is not None and len(number) != length:
                problems.append(((*path, "number"), f"group {number!r} has {len(number)} digits; this account's extensions have {length}"))
            seen.setdefault(number, k)
        raw = g.get("members")
        members: list[Any] = raw if isinstance(raw, list) else []
        for m, member in enumerate(members):
            if isinstance(member, str) and member not in extensions:
                problems.append(((*path, "members", m), f"{member!r} is not an extension of this account"))
            elif isinstance(member, str) and member in members[:m]:
                problems.append(((*path, "members", m), f"{member!r} is already a member"))
    for k, g in groups:
        target = g.get("overflow")
        if isinstance(target, str) and target != "hangup" and target not in extensions and target not in seen:
            problems.append((("accounts", i, "groups", k, "overflow"), f"{target!r} is not an extension or group of this account"))
        elif isinstance(target, str) and isinstance(g.get("number"), str):
            overflow[g["number"]] = target
    for k, g in groups:
        start, hops = g.get("number"), []
        target = overflow.get(start) if isinstance(start, str) else None
        while target in overflow and target not in hops and target != start:
            hops.append(target)
            target = overflow[target]
        if target == start and isinstance(start, str):
            problems.append((("accounts", i, "groups", k, "overflow"), f"overflow goes round in a circle: {' -> '.join([start, *hops, start])}"))
    return problems


def _park_checks(i: int, acc: dict[str, Any], numbers: set[str]) -> list[tuple[Path, str]]:
    """Park destinations are extensions of the account; each slot range (a site's, with what it
    takes from the account's) is not empty and does not hold the park code."""
    problems: list[tuple[Path, str]] = []
    raw = acc.get("park")
    park: dict[str, Any] = raw if isinstance(raw, dict) else {}
    places: list[tuple[Path, dict[str, Any], dict[str, Any]]] = [(("accounts", i, "park"), park, park)]
    for k, site in enumerate(acc.get("sites") or []):
        if isinstance(site, dict) and isinstance(site.get("park"), dict):
            places.append((("accounts", i, "sites", k, "park"), site["park"], {**park, **site["park"]}))
    code = str(park.get("code", "*85"))[1:]
    raw_recordings = acc.get("recordings")
    recordings = set(raw_recordings) if isinstance(raw_recordings, dict) else set()
    for path, settings, merged in places:
        first, last = str(merged.get("first_slot", "801")), str(merged.get("last_slot", "899"))
        if first.isdigit() and last.isdigit():
            if int(first) > int(last):
                problems.append((path, f"slots {first}..{last}: need first_slot <= last_slot"))
            elif code.isdigit() and int(first) <= int(code) <= int(last):
                problems.append((path, f"park code *{code} is one of the slots *{first}..*{last}"))
        for key in ("on_expiry", "fallback"):
            value = settings.get(key)
            if isinstance(value, str) and value not in ("parker", "hangup") and value.isdigit() and value not in numbers:
                problems.append(((*path, key), f"{value!r} is not an extension or group of this account"))
        music = settings.get("music")
        if isinstance(music, str) and is_recording_name(music) and music not in recordings:
            problems.append(((*path, "music"), f"{music!r} is not a recording of this account (nor a file: write a path)"))
    extensions = {str(e.get("number")) for e in acc.get("extensions") or [] if isinstance(e, dict)}
    pickup = acc.get("pickup_groups")
    for name, members in (pickup.items() if isinstance(pickup, dict) else ()):
        for k, member in enumerate(members if isinstance(members, list) else ()):
            if str(member) not in extensions:
                problems.append((("accounts", i, "pickup_groups", name, k), f"{member!r} is not an extension of this account"))
    transfer = acc.get("transfer")
    fallback = transfer.get("fallback") if isinstance(transfer, dict) else None
    if isinstance(fallback, str) and fallback.isdigit() and fallback not in numbers:
        problems.append((("accounts", i, "transfer", "fallback"), f"{fallback!r} is not an extension or group of this account"))
    return problems


# The codes a phone dials that the switch answers itself, before any extension or number:
# (section, key, its model for the default, whether digits follow it: *98102, *221102).
DIALLED_CODES = (
    ("park", "code", Park, False),
    ("pickup", "group_code", Pickup, False),
    ("pickup", "directed_prefix", Pickup, True),
    ("voicemail", "listen_code", Voicemail, False),
    ("voicemail", "remote_code", Voicemail, True),
    ("supervision", "listen_code", Supervision, True),
    ("supervision", "whisper_code", Supervision, True),
    ("supervision", "barge_code", Supervision, True),
)


def _code_checks(i: int, acc: dict[str, Any]) -> list[tuple[Path, str]]:
    """No two of an account's dialled codes may be taken for one another: equal codes, a code
    that is another's prefix and digits (``*85`` when pick-up's directed prefix is ``*8``), one
    prefix beginning another, or a code that is also a park slot's."""
    codes: list[tuple[Path, str, bool, bool]] = []  # (where, code, digits follow, written in the file)
    for section, key, model, prefix in DIALLED_CODES:
        raw = acc.get(section)
        written = isinstance(raw, dict) and key in raw
        value = raw[key] if written and isinstance(raw, dict) else model.model_fields[key].default
        if isinstance(value, str) and value:
            codes.append((("accounts", i, section, key), value, prefix, written))
    problems: list[tuple[Path, str]] = []
    for n, (where, code, prefix, written) in enumerate(codes):
        for other_where, other, other_prefix, other_written in codes[:n]:
            if where[2] == other_where[2] and where[2] in ("voicemail", "supervision"):
                continue  # their own models check them
            if code == other:
                why = "is also"
            elif other_prefix and code.startswith(other) and (prefix or code[len(other):].isdigit()):
                why = "begins with"
            elif prefix and other.startswith(code) and (other_prefix or other[len(code):].isdigit()):
                why = "begins"
            else:
                continue
            path = where if written or not other_written else other_where
            problems.append((path, f"dialled code {code} ({where[2]}.{where[3]}) {why} {other} ({other_where[2]}.{other_where[3]}): "
                                   "a phone dialling one would get the other"))
    raw_park = acc.get("park")
    park: dict[str, Any] = raw_park if isinstance(raw_park, dict) else {}
    first, last = str(park.get("first_slot", 801)), str(park.get("last_slot", 899))
    if not (first.isdigit() and last.isdigit()):
        return problems
    for where, code, prefix, written in codes[1:]:  # the park code itself: _park_checks
        slot = code[1:]
        if not prefix and code.startswith("*") and slot.isdigit() and int(first) <= int(slot) <= int(last):
            problems.append((where if written else ("accounts", i, "park"),
                             f"dialled code {code} ({where[2]}.{where[3]}) is one of the park slots *{first}..*{last}"))
    return problems
