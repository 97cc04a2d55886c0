"""``softswitch people …``, ``softswitch extensions …`` and ``softswitch audit``: the command line's
side of the operations layer.  Every change goes through ``service.Operations``; this module
only parses arguments and prints."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import admin
from ..api.auth import digest, new_token
from ..cli_common import from_store, load_or_exit, parse_duration, parse_since, print_table
from ..config import Account, Config, ConfigError, Extension
from . import tree as t
from .document import StaleEdit
from .extensions import Change
from .login import login_info
from .plans import CsvErrors
from .service import Operations, Outcome
from .web_link import DEFAULT_VALID, link_secret, make_link, phone_url

if TYPE_CHECKING:
    from ..store import Store


def _applier(config: Config) -> Callable[[Change], Awaitable[str]]:
    async def apply(change: Change) -> str:
        command = "reload"
        if (moved := change.renumbered) is not None:
            command += f" renumbered {change.account} {moved[0]} {moved[1]}"
        try:
            result = await asyncio.to_thread(admin.query, config.admin.socket, command, 30.0)
        except admin.AdminError as exc:
            return f"not applied to a running switch ({exc}); it applies when the switch starts"
        return f"applied to the running switch: {result}"

    return apply


def _edit(args: argparse.Namespace, op: Callable[[Operations], Awaitable[Outcome]],
          report: Callable[[Outcome], None] | None = None) -> int:
    config = load_or_exit(args.config)
    actor = f"{getpass.getuser()} (command line)"

    async def work(store: Store) -> int:
        ops = Operations(Path(args.config), store, _applier(config), actor, notify=getattr(args, "notify", None) or ())
        try:
            outcome = await op(ops)
        except ConfigError as exc:
            print("refused: the change would make the config invalid; nothing was written:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        except StaleEdit as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        except CsvErrors as exc:
            print(f"refused: {len(exc.errors)} problem{'s' if len(exc.errors) != 1 else ''} in the file; nothing was changed:",
                  file=sys.stderr)
            for error in exc.errors:
                print(f"  {error}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        _report(outcome)
        if report is not None:
            report(outcome)
        return 0

    return from_store(config, work)


def _report(outcome: Outcome) -> None:
    for one in outcome.changes:
        print(one.summary() + _plans_moved(one))
    print(f"config version {outcome.version}; {outcome.applied}")
    for line in outcome.notified:
        print(f"notify: {line}")
    if len(outcome.changes) != 1:
        return
    change = outcome.change
    if change.action not in ("grant", "password", "change-number"):
        return
    account = outcome.config.account(change.account)
    extension = account.extension(change.extension) if account is not None and change.extension else None
    if account is not None and extension is not None:
        print()
        _print_pairs(login_info(outcome.config, account, extension, password=change.secret))


def _plans_moved(change: Change) -> str:
    if not change.action.startswith("plan-") or change.before is None or change.after is None:
        return ""
    return f": plans {', '.join(change.before['plans']) or '(none)'} -> {', '.join(change.after['plans']) or '(none)'}"


def _print_pairs(lines: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key.ljust(width)}  {value}")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("alias", "display_name", "call_permission", "department", "site", "description", "outbound_group",
                "supervisors"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = [v for v in value if v] if key == "supervisors" else value
    return out


def cmd_grant(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.grant(args.account, args.extension, args.person, _settings(args),
                                             password=args.password, expected=args.if_version))


def cmd_update(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.update(args.account, args.extension, _settings(args), expected=args.if_version))


def cmd_password(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.set_password(args.account, args.extension, args.set, expected=args.if_version))


def cmd_stop(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.stop(args.account, args.extension, expected=args.if_version))


def cmd_change(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.change_number(args.account, args.extension, args.new, expected=args.if_version))


def _person_values(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("name", "email", "department", "site") if getattr(args, k) is not None}


def cmd_person_add(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.add_person(args.account, args.id, _person_values(args), expected=args.if_version))


def cmd_person_update(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.update_person(args.account, args.id, _person_values(args), expected=args.if_version))


def _account(config: Config, name: str) -> Account:
    account = config.account(name)
    if account is None:
        print(f"no account named {name!r}", file=sys.stderr)
        raise SystemExit(1)
    return account


def _extension(args: argparse.Namespace) -> tuple[Config, Account, Extension]:
    """The config, account and extension a command names (``--config``, ``--account``,
    ``extension``); exits 1 saying which is missing."""
    config = load_or_exit(args.config)
    account = _account(config, args.account)
    extension = account.extension(args.extension)
    if extension is None:
        print(f"no extension {args.extension!r} in account {args.account!r}", file=sys.stderr)
        raise SystemExit(1)
    return config, account, extension


def cmd_people_list(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    account = _account(config, args.account)
    rows: list[tuple[str, ...]] = []
    for p in account.people:
        numbers = ", ".join(e.number for e in account.extensions if e.person == p.id) or "-"
        rows.append((p.id, p.name, p.email or "-", p.department or "-", p.site or "-", numbers))
    print_table(("ID", "NAME", "E-MAIL", "DEPARTMENT", "SITE", "EXTENSIONS"), rows)
    print(f"{len(rows)} {'person' if len(rows) == 1 else 'people'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    account = _account(config, args.account)

    async def work(store: Store) -> int:
        bindings = await store.list_bindings(time.time(), account.name)
        devices: dict[str, int] = {}
        for b in bindings:
            devices[b.extension] = devices.get(b.extension, 0) + 1
        people = {p.id: p.name for p in account.people}
        rows: list[tuple[str, ...]] = [(e.number, f"{e.person} ({people.get(e.person, '?')})" if e.person else "-", e.alias or "-",
                 e.call_permission, "dnd" if e.dnd else "active", str(devices.get(e.number, 0)))
                for e in account.extensions]
        print_table(("EXT", "PERSON", "ALIAS", "PERMISSION", "STATUS", "DEVICES"), rows)
        print(f"{len(rows)} extension{'s' if len(rows) != 1 else ''}")
        return 0

    return from_store(config, work)


def cmd_show(args: argparse.Namespace) -> int:
    config, account, extension = _extension(args)
    data = t.plain(extension.model_dump(exclude_none=True, mode="json"))
    data["password"] = "(set)"
    if extension.person:
        person = next((p for p in account.people if p.id == extension.person), None)
        if person is not None:
            data["person"] = person.model_dump(exclude_none=True, mode="json")
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def cmd_login_info(args: argparse.Namespace) -> int:
    config, account, extension = _extension(args)
    _print_pairs(login_info(config, account, extension, password=extension.password))
    return 0


def _note(args: argparse.Namespace, config: Config, account: str, action: str, subject: str) -> None:
    """Audit what the command line handed out (a sign-in link, a QR code)."""
    actor = f"{getpass.getuser()} (command line)"

    async def work(store: Store) -> int:
        await Operations(Path(args.config), store, _applier(config), actor).note(account, action, subject)
        return 0

    from_store(config, work)


def cmd_web_link(args: argparse.Namespace) -> int:
    config, account, extension = _extension(args)
    try:
        page = args.base or phone_url(config)
        link = make_link(account.name, extension, time.time(), args.valid, secret=link_secret(Path(args.config)))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    _note(args, config, account.name, "web-link", f"extension {extension.number}")
    print(f"{page.rstrip('/')}?domain={account.domain}#link={link}")
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() + args.valid))
    print(f"(opens the browser phone as {extension.number} once, until {until}; a new password voids it)",
          file=sys.stderr)
    return 0


def cmd_qr(args: argparse.Namespace) -> int:
    import segno

    from ..provisioning.softphones import payload

    config, account, extension = _extension(args)
    try:
        data = payload(args.app, config, account, extension, time.time(), args.valid, link_secret(Path(args.config)))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    _note(args, config, account.name, "qr-code", f"extension {extension.number} ({args.app})")
    code = segno.make(data, error="m", micro=False)
    out = Path(args.png or f"{account.name}-{extension.number}-{args.app}.png")
    code.save(str(out), scale=8, border=4)
    if not args.quiet:
        code.terminal(compact=True)
    print(f"{args.app} QR code for {extension.number}@{account.domain} written to {out}")
    if args.app == "linphone":
        until = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() + args.valid))
        print(f"it opens {data} once, until {until}; a new password voids it")
    else:
        print("it holds the extension's password: hand it over as you would the password")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    since = parse_since(args.since, time.time()) if args.since else None

    async def work(store: Store) -> int:
        rows = await store.list_audit(args.account, since, args.limit)
        if args.json:
            for r in rows:
                print(json.dumps(r.as_dict(), ensure_ascii=False))
            return 0
        print_table(("WHEN", "WHO", "ACCOUNT", "ACTION", "SUBJECT", "PERSON", "BEFORE -> AFTER"), [
            (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.at)), r.actor, r.account, r.action, r.subject,
             r.person or "-", f"{r.before or '-'} -> {r.after or '-'}") for r in rows])
        print(f"{len(rows)} change{'s' if len(rows) != 1 else ''}")
        return 0

    return from_store(config, work)


def cmd_token(args: argparse.Namespace) -> int:
    token = new_token()
    code = _edit(args, lambda ops: ops.add_token(args.name, digest(token), args.account, expected=args.if_version))
    if code == 0:
        print()
        print(f"Token  {token}")
        print("(shown once: the config keeps only its SHA-256; send it as 'Authorization: Bearer <token>')")
    return code


def cmd_revoke(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.revoke_token(args.name, expected=args.if_version))


def edit_options(p: argparse.ArgumentParser, default_config: str) -> None:
    """The options every command that edits the config takes."""
    p.add_argument("--config", default=default_config)
    p.add_argument("--if-version", metavar="V", help="refuse if the config file is no longer version V")
    p.add_argument("--notify", action="append", metavar="WHO",
                   help="also e-mail this address or person (their id) about the change (repeat for more)")


def add_parsers(sub: Any, default_config: str) -> None:
    def common(p: argparse.ArgumentParser, edits: bool = False) -> None:
        p.add_argument("--account", required=True)
        if edits:
            edit_options(p, default_config)
        else:
            p.add_argument("--config", default=default_config)

    def settings(p: argparse.ArgumentParser) -> None:
        p.add_argument("--alias", help="a memorable name: letters, digits, _ and -")
        p.add_argument("--display-name", dest="display_name")
        p.add_argument("--permission", dest="call_permission", choices=["internal", "local", "mobile", "international"])
        p.add_argument("--department")
        p.add_argument("--site")
        p.add_argument("--description")
        p.add_argument("--outbound-group", dest="outbound_group", help="the account's group of numbers its outside calls show")
        p.add_argument("--supervisor", dest="supervisors", action="append", metavar="NUMBER",
                       help="an extension or group that may monitor its calls (repeat for several; "
                       "on update the list replaces the old one, '' clears it)")

    people = sub.add_parser("people", help="the people (employees) extensions belong to")
    people_sub = people.add_subparsers(dest="people_command", required=True)
    p = people_sub.add_parser("list", help="people of an account and their extensions")
    common(p)
    p.set_defaults(func=cmd_people_list)
    for name, func, help_text in (("add", cmd_person_add, "add a person"), ("update", cmd_person_update, "change a person's details")):
        p = people_sub.add_parser(name, help=help_text)
        p.add_argument("id", help="a stable id (an employee number): history follows it")
        p.add_argument("--name", required=name == "add")
        p.add_argument("--email")
        p.add_argument("--department")
        p.add_argument("--site")
        common(p, edits=True)
        p.set_defaults(func=func)

    exts = sub.add_parser("extensions", help="grant, stop, renumber and edit extensions")
    ext_sub = exts.add_subparsers(dest="extensions_command", required=True)
    p = ext_sub.add_parser("list", help="extensions with person, alias, permission, status and registered devices")
    common(p)
    p.set_defaults(func=cmd_list)
    p = ext_sub.add_parser("show", help="one extension's settings and person")
    p.add_argument("extension")
    common(p)
    p.set_defaults(func=cmd_show)
    p = ext_sub.add_parser("login-info", help="what a phone needs to log in as the extension")
    p.add_argument("extension")
    common(p)
    p.set_defaults(func=cmd_login_info)
    p = ext_sub.add_parser("web-link", help="a one-time, short-lived link that signs the browser phone in as the extension")
    p.add_argument("extension")
    p.add_argument("--valid", type=parse_duration, default=DEFAULT_VALID, metavar="LENGTH",
                   help=f"how long the link opens the page: 90s, 15m, 2h, 7d (default {DEFAULT_VALID // 60}m)")
    p.add_argument("--base", metavar="URL", help="the page's address as people's browsers reach it "
                   "(default: the API's address and port, /phone)")
    common(p)
    p.set_defaults(func=cmd_web_link)
    p = ext_sub.add_parser("qr", help="a QR code that sets up a softphone as the extension (prints it and writes a PNG)")
    p.add_argument("extension")
    p.add_argument("--app", required=True, choices=["gswave", "linphone", "zoiper"],
                   help="Grandstream Wave (its XML account), Linphone (a one-time provisioning URL the switch "
                   "serves) or Zoiper (Zoiper's provisioning link with provisioning.zoiper_provider, else the "
                   "account as text)")
    p.add_argument("--png", metavar="FILE", help="where to write the image (default ACCOUNT-EXT-APP.png)")
    p.add_argument("--valid", type=parse_duration, default=DEFAULT_VALID, metavar="LENGTH",
                   help=f"how long Linphone's URL opens (default {DEFAULT_VALID // 60}m)")
    p.add_argument("--quiet", action="store_true", help="do not print the code in the terminal")
    common(p)
    p.set_defaults(func=cmd_qr)
    p = ext_sub.add_parser("grant", help="a new extension for a person; prints its login information")
    p.add_argument("extension")
    p.add_argument("--person", required=True, help="the person's id (softswitch people add)")
    p.add_argument("--password", help="default: a strong generated one, shown once")
    settings(p)
    common(p, edits=True)
    p.set_defaults(func=cmd_grant)
    p = ext_sub.add_parser("update", help="change settings; an empty value ('') clears one")
    p.add_argument("extension")
    settings(p)
    common(p, edits=True)
    p.set_defaults(func=cmd_update)
    p = ext_sub.add_parser("password", help="a new generated password (or --set one); prints the login information")
    p.add_argument("extension")
    p.add_argument("--set", metavar="PASSWORD")
    common(p, edits=True)
    p.set_defaults(func=cmd_password)
    p = ext_sub.add_parser("stop", help="revoke: registrations dropped, calls ended, the number freed; history stays")
    p.add_argument("extension")
    common(p, edits=True)
    p.set_defaults(func=cmd_stop)
    p = ext_sub.add_parser("change", help="renumber: settings, groups and references follow")
    p.add_argument("extension")
    p.add_argument("new")
    common(p, edits=True)
    p.set_defaults(func=cmd_change)

    api = sub.add_parser("api", help="admin API tokens")
    api_sub = api.add_subparsers(dest="api_command", required=True)
    p = api_sub.add_parser("token", help="make a bearer token, keep its SHA-256 in the config, print it once")
    p.add_argument("name", help="who will use it (changes made with it are audited under this name)")
    p.add_argument("--account", help="an account token: it sees and changes only this account")
    edit_options(p, default_config)
    p.set_defaults(func=cmd_token)
    p = api_sub.add_parser("revoke", help="remove a token from the config (requests with it get 401 at once)")
    p.add_argument("name")
    edit_options(p, default_config)
    p.set_defaults(func=cmd_revoke)

    audit = sub.add_parser("audit", help="who changed what, when: before and after")
    audit.add_argument("--account")
    audit.add_argument("--since", help="30m, 2h, 7d or an ISO date/time")
    audit.add_argument("--limit", type=int)
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.add_argument("--config", default=default_config)
    audit.set_defaults(func=cmd_audit)
