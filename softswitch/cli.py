"""The ``softswitch`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from .config import Config, ConfigError, load_config
from .registrar.core import Binding

DEFAULT_CONFIG = os.environ.get("SOFTSWITCH_CONFIG", "config/example.yaml")


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(1) from None


def cmd_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.trace:
        logging.getLogger("softswitch.sip.trace").setLevel(logging.DEBUG)
    else:
        logging.getLogger("softswitch.sip.trace").setLevel(logging.INFO)
    _load(args.config)  # refuse to start on a bad config, listing every problem
    from .app import run

    run(args.config)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    config = _load(args.file)
    exts = sum(len(a.extensions) for a in config.accounts)
    print(f"{args.file}: OK ({len(config.accounts)} accounts, {exts} extensions)")
    return 0


def cmd_registrations(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if args.account and config.account(args.account) is None:
        print(f"no account named {args.account!r}", file=sys.stderr)
        return 1

    async def fetch() -> list[Binding]:
        from .store import open_store

        store = await open_store(config.store.url)
        try:
            return await store.list_bindings(time.time(), args.account)
        finally:
            await store.close()

    now = time.time()
    rows = asyncio.run(fetch())
    header = ("ACCOUNT", "EXT", "CONTACT", "TRANSPORT", "SOURCE", "EXPIRES", "NAT", "USER-AGENT")
    table = [header] + [
        (b.account, b.extension, b.uri, b.source.transport, _addr(b.source.host, b.source.port),
         f"{b.expires_in(now)}s", "yes" if b.nat else "no", b.user_agent or "-")
        for b in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"{len(rows)} registration{'s' if len(rows) != 1 else ''}")
    return 0


def _addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cmd_login_info(args: argparse.Namespace) -> int:
    config = _load(args.config)
    account = config.account(args.account)
    if account is None:
        print(f"no account named {args.account!r}", file=sys.stderr)
        return 1
    ext = account.extension(args.extension)
    if ext is None:
        print(f"no extension {args.extension!r} in account {args.account!r}", file=sys.stderr)
        return 1
    listen = config.server.listen[0]
    server = config.server.advertised_address or listen.address
    lines = [
        ("Domain", account.domain),
        ("Server (proxy)", server),
        ("Port", str(listen.port)),
        ("Transport", listen.transport.upper()),
        ("Other transports", ", ".join(f"{x.transport.upper()} {x.port}" for x in config.server.listen[1:]) or "-"),
        ("Username", ext.number),
        ("Auth username", ext.number),
        ("Password", ext.password),
        ("Display name", ext.display_name or ext.number),
        ("Registration expiry", f"{config.registration.default_expires} s"),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key.ljust(width)}  {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="softswitch", description="A pure-Python SIP/RTP softswitch.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the switch")
    serve.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--trace", action="store_true", help="log every SIP message sent and received")
    serve.set_defaults(func=cmd_serve)

    config = sub.add_parser("config", help="work with config files")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file; every problem as file:line: path: message")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)

    regs = sub.add_parser("registrations", help="list the registered devices")
    regs.add_argument("--config", default=DEFAULT_CONFIG)
    regs.add_argument("--account", help="only this account")
    regs.set_defaults(func=cmd_registrations)

    info = sub.add_parser("login-info", help="what a phone needs to log in as an extension")
    info.add_argument("extension")
    info.add_argument("--account", required=True)
    info.add_argument("--config", default=DEFAULT_CONFIG)
    info.set_defaults(func=cmd_login_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
