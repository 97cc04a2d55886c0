"""``softswitch plans …``: calling plans from the command line (through ``service.Operations``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..cli_common import load_or_exit, print_table
from ..config import Config
from . import plans as ops
from .cli import _edit, edit_options
from .document import read


def _describe(config: Config, name: str) -> tuple[str, ...]:
    plan = config.plan(name)
    assert plan is not None
    holders = sum(1 for a in config.accounts for p in a.people if name in p.plans)
    minutes = ", ".join(f"{k} {v}" for k, v in (plan.minutes or {}).items()) or "-"
    return (plan.name, plan.status, str(plan.retire_on or "-"), plan.permission, ",".join(plan.features) or "-", minutes,
            f"{holders}/{plan.seats}" if plan.seats else str(holders))


def cmd_list(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    print_table(("PLAN", "STATUS", "RETIRE-ON", "PERMISSION", "FEATURES", "MINUTES/MONTH", "PEOPLE"),
           [_describe(config, p.name) for p in config.plans])
    print(f"{len(config.plans)} plan{'s' if len(config.plans) != 1 else ''}")
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    return _edit(args, lambda o: o.assign_plan(args.account, args.plan, args.person, expected=args.if_version))


def cmd_remove(args: argparse.Namespace) -> int:
    return _edit(args, lambda o: o.remove_plan(args.account, args.plan, args.person, expected=args.if_version))


def cmd_replace(args: argparse.Namespace) -> int:
    return _edit(args, lambda o: o.replace_plan(args.old, args.new, args.account, args.person or None, expected=args.if_version))


def cmd_import(args: argparse.Namespace) -> int:
    try:
        data = Path(args.file).read_text(encoding="utf-8-sig")  # a spreadsheet's CSV may start with a BOM
    except OSError as exc:
        print(f"{args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return _edit(args, lambda o: o.import_plans(args.account, data, dry_run=args.dry_run, expected=args.if_version))


def cmd_export(args: argparse.Namespace) -> int:
    snapshot = read(Path(args.config))
    text = ops.export_csv(snapshot.tree, args.account)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{args.output}: {text.count(chr(10)) - 1} people")
    else:
        sys.stdout.write(text)
    return 0


def cmd_inactive(args: argparse.Namespace) -> int:
    snapshot = read(Path(args.config))
    rows = ops.inactive(snapshot.tree, args.account)
    print_table(("ACCOUNT", "PERSON", "NAME", "PLANS"), [(a, i, n, ", ".join(p)) for a, i, n, p in rows])
    print(f"{len(rows)} inactive {'person' if len(rows) == 1 else 'people'} (legacy plans only)")
    return 0


def add_parsers(sub: Any, default_config: str) -> None:
    plans = sub.add_parser("plans", help="calling plans (packages): list, give, take, replace, CSV import/export")
    plans_sub = plans.add_subparsers(dest="plans_command", required=True)

    def edits(p: argparse.ArgumentParser, account_required: bool = True) -> None:
        p.add_argument("--account", required=account_required)
        edit_options(p, default_config)

    p = plans_sub.add_parser("list", help="plans with status, permission, features, minutes and people/seats")
    p.add_argument("--config", default=default_config)
    p.set_defaults(func=cmd_list)
    for name, func, text in (("assign", cmd_assign, "give a plan to people"),
                             ("remove", cmd_remove, "take a plan from people (refused if it would leave them with no active plan)")):
        p = plans_sub.add_parser(name, help=text)
        p.add_argument("plan")
        p.add_argument("--person", action="append", required=True, help="a person's id (repeat for many)")
        edits(p)
        p.set_defaults(func=func)
    p = plans_sub.add_parser("replace", help="everyone with OLD gets NEW instead, in one edit")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--person", action="append", help="only these people (repeat for many)")
    edits(p, account_required=False)
    p.set_defaults(func=cmd_replace)
    p = plans_sub.add_parser("import", help=f"give plans from a CSV file (column '{ops.PACKAGE}'); any bad row: nothing changes")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="show every change and every error; change nothing")
    edits(p)
    p.set_defaults(func=cmd_import)
    p = plans_sub.add_parser("export", help="the same CSV with each person's plans and status")
    p.add_argument("--account", required=True)
    p.add_argument("--output", "-o", help="write to this file (default: standard output)")
    p.add_argument("--config", default=default_config)
    p.set_defaults(func=cmd_export)
    p = plans_sub.add_parser("inactive", help="people whose plans are all legacy")
    p.add_argument("--account")
    p.add_argument("--config", default=default_config)
    p.set_defaults(func=cmd_inactive)
