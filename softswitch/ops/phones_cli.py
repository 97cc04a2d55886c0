"""``softswitch phones …``: the desk phones the switch provisions (issue 17): list them, add
one (its provisioning password shown once, with what to type into the phone), remove one, and
see the phones that asked for their files but that no account has (to claim them)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import admin
from ..cli_common import load_or_exit, print_table
from ..provisioning.profile import provisioning_url
from ..store.calls_csv import when
from .cli import _edit, edit_options
from .devices import MODELS
from .service import Outcome


def cmd_list(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    rows: list[tuple[str, ...]] = [(d.mac, a.name, str(d.model), ",".join(d.lines), ",".join(d.blf) or "-", str(d.park_keys), d.label or "-")
            for a in config.accounts if args.account in (None, a.name) for d in a.devices]
    print_table(("MAC", "ACCOUNT", "MODEL", "LINES", "BLF", "PARK KEYS", "LABEL"), rows)
    print(f"{len(rows)} phone{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_asked(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    try:
        rows = admin.query(config.admin.socket, "phones-asked")
    except admin.AdminError as exc:
        print(f"cannot ask the running switch: {exc}", file=sys.stderr)
        return 1
    print_table(("MAC", "ADDRESS", "TIMES", "LAST", "USER-AGENT"), [
        (r["mac"], r["address"], str(r["times"]), when(r["last"]),
         r["user_agent"]) for r in rows])
    print(f"{len(rows)} unclaimed phone{'s' if len(rows) != 1 else ''} (add one with softswitch phones add MAC ...)")
    return 0


def _shown(outcome: Outcome) -> None:
    change = outcome.change
    if change.action != "device-add" or change.after is None:
        return
    mac = str(change.after["mac"])
    try:
        url = provisioning_url(outcome.config)
    except ValueError as exc:
        url = f"(none: {exc})"
    print()
    for key, value in (("Provisioning URL", url + "/"), ("User name", mac),
                       ("Password", change.secret or "(the one given)")):
        print(f"{key.ljust(16)}  {value}")
    print("(type these into the phone's auto-provisioning page, or hand out the URL by DHCP option 66)")


def cmd_add(args: argparse.Namespace) -> int:
    code = _edit(args, lambda ops: ops.add_device(args.account, args.mac, args.model, args.line, args.password,
                                                  args.blf or [], args.park_keys, args.label, expected=args.if_version),
                 report=_shown)
    return code


def cmd_remove(args: argparse.Namespace) -> int:
    return _edit(args, lambda ops: ops.remove_device(args.account, args.mac, expected=args.if_version))


def add_parsers(sub: Any, default_config: str) -> None:
    phones = sub.add_parser("phones", help="desk phones the switch provisions (Yealink, Grandstream, Fanvil)")
    phones_sub = phones.add_subparsers(dest="phones_command", required=True)
    p = phones_sub.add_parser("list", help="the provisioned phones, per account")
    p.add_argument("--account")
    p.add_argument("--config", default=default_config)
    p.set_defaults(func=cmd_list)
    p = phones_sub.add_parser("asked", help="phones that asked for their files and that no account has")
    p.add_argument("--config", default=default_config)
    p.set_defaults(func=cmd_asked)
    p = phones_sub.add_parser("add", help="provision a phone: prints what to type into it (its password once)")
    p.add_argument("mac")
    p.add_argument("--account", required=True)
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--line", action="append", required=True, metavar="EXT", help="an extension on its lines (repeat)")
    p.add_argument("--blf", action="append", metavar="EXT", help="a colleague watched on a BLF key (repeat)")
    p.add_argument("--park-keys", dest="park_keys", type=int, help="BLF keys on the first park slots (default 3)")
    p.add_argument("--label")
    p.add_argument("--password", help="the phone's provisioning password (default: a strong generated one)")
    edit_options(p, default_config)
    p.set_defaults(func=cmd_add)
    p = phones_sub.add_parser("remove", help="stop provisioning a phone")
    p.add_argument("mac")
    p.add_argument("--account", required=True)
    edit_options(p, default_config)
    p.set_defaults(func=cmd_remove)
