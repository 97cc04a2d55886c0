"""``softswitch recordings …``: the recorded calls in the history, and a recording's file.

``calls`` lists recorded calls (newest last) with their file, length, size and SHA-256;
``export ID`` copies a call's recording to a file (or standard output) after checking that
the file is still the one the history row describes (its SHA-256): a recording changed or
damaged since is refused, not handed on as evidence.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from .cli_common import from_store, load_or_exit, parse_since, print_table
from .media.recorder import digest
from .store.calls_csv import when
from .store.records import CallRow


def cmd_calls(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    since = parse_since(args.since, time.time()) if args.since else None
    rows = from_store(config, lambda store: store.list_calls(args.account, since, None, args.limit, recorded=True))
    print_table(("START", "ACCOUNT", "CALLER", "CALLEE", "BILLED", "RECORDED", "BYTES", "ID", "FILE"), [
        (when(r.started), r.account, r.caller, r.answered_by or r.callee, f"{r.billed_seconds}s",
         f"{r.recording.seconds:.1f}s", str(r.recording.size), r.id,
         r.recording.path if r.recording.deleted is None else f"(deleted {when(r.recording.deleted)})")
        for r in rows if r.recording is not None
    ])
    print(f"{len(rows)} recorded call{'s' if len(rows) != 1 else ''}")
    return 0


def _row(args: argparse.Namespace) -> CallRow | None:
    row = from_store(load_or_exit(args.config), lambda store: store.get_call(args.id))
    return row if row is not None and args.account in (None, row.account) else None


def cmd_export(args: argparse.Namespace) -> int:
    row = _row(args)
    if row is None or row.recording is None:
        print(f"no recorded call {args.id!r}" + (f" in account {args.account!r}" if args.account else ""), file=sys.stderr)
        return 1
    if row.recording.deleted is not None:
        print(f"the recording of call {args.id} was deleted (retention) at {when(row.recording.deleted)}", file=sys.stderr)
        return 1
    source = Path(row.recording.path)
    try:
        sha256 = digest(source)
    except OSError as exc:
        print(f"{source}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if sha256 != row.recording.sha256:
        print(f"{source} is not the recording the history describes (SHA-256 {sha256}, "
              f"recorded as {row.recording.sha256}): not exported", file=sys.stderr)
        return 1
    if args.output in (None, "-"):
        with source.open("rb") as file:
            shutil.copyfileobj(file, sys.stdout.buffer)
    else:
        shutil.copyfile(source, args.output)
        print(f"{args.output}: {row.recording.seconds:.1f} s, {row.recording.size} bytes, SHA-256 {row.recording.sha256}")
    return 0


def add_parsers(recordings: argparse.ArgumentParser, default_config: str) -> None:
    """``calls`` and ``export`` under ``softswitch recordings`` (which alone lists the prompts)."""
    recordings_sub = recordings.add_subparsers(dest="recordings_command", required=False)
    p = recordings_sub.add_parser("calls", help="recorded calls: file, length, size, newest last")
    p.add_argument("--config", default=default_config)
    p.add_argument("--account", help="only this account")
    p.add_argument("--since", help="calls started since: 30m, 2h, 7d or an ISO date/time")
    p.add_argument("--limit", type=int, help="only the newest N")
    p.set_defaults(func=cmd_calls)
    p = recordings_sub.add_parser("export", help="write a call's recording (checked against its SHA-256)")
    p.add_argument("id", help="the call's id (softswitch recordings calls)")
    p.add_argument("--output", "-o", help="the file to write (default: standard output)")
    p.add_argument("--config", default=default_config)
    p.add_argument("--account", help="only look in this account")
    p.set_defaults(func=cmd_export)
