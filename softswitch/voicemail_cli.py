"""``softswitch voicemail``: the mailboxes that hold messages, and the messages, from the store."""

from __future__ import annotations

import argparse
from collections import Counter

from .cli_common import from_store, load_or_exit, print_table
from .store.calls_csv import when


def cmd_voicemail(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    rows = from_store(config, lambda store: store.list_messages(args.account, args.mailbox))
    new = Counter((r.account, r.mailbox) for r in rows if r.heard is None)
    old = Counter((r.account, r.mailbox) for r in rows if r.heard is not None)
    boxes = sorted({(r.account, r.mailbox) for r in rows}, key=lambda box: (box[0], len(box[1]), box[1]))
    print_table(("ACCOUNT", "MAILBOX", "NEW", "OLD"), [(a, m, str(new[(a, m)]), str(old[(a, m)])) for a, m in boxes])
    print()
    print_table(("RECEIVED", "ACCOUNT", "MAILBOX", "FROM", "LENGTH", "STATE", "ID", "FILE"), [
        (when(r.received), r.account, r.mailbox, r.caller, f"{r.seconds:.1f}s", "new" if r.heard is None else "heard",
         r.id, r.path) for r in rows
    ])
    print(f"{len(rows)} message{'s' if len(rows) != 1 else ''} in {len(boxes)} mailbox{'es' if len(boxes) != 1 else ''}")
    return 0


def add_parser(sub: argparse._SubParsersAction, default_config: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("voicemail", help="mailboxes with messages (new, old) and the messages, oldest first")
    p.add_argument("--config", default=default_config)
    p.add_argument("--account", help="only this account")
    p.add_argument("--mailbox", help="only this extension's mailbox")
    p.set_defaults(func=cmd_voicemail)
