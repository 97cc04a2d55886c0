"""The ``softswitch`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import recordings_cli, tls_cli, voicemail_cli
from .cli_common import from_store, load_or_exit, parse_since, print_table
from .config import Account, Config
from .ops import cli as ops_cli
from .ops import phones_cli, plans_cli
from .park.lot import code
from .store.calls_csv import calls_csv, when
from .store.records import CallRow, LegMediaRow

if TYPE_CHECKING:
    pass

T = TypeVar("T")

DEFAULT_CONFIG = os.environ.get("SOFTSWITCH_CONFIG", "config/example.yaml")


def cmd_serve(args: argparse.Namespace) -> int:
    # Each call logs a few lines; its records need none of the caller's file, line, thread or
    # process (the format below names none), which logging would otherwise look up for every
    # record: a quarter of a record's cost (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.trace:
        logging.getLogger("softswitch.sip.trace").setLevel(logging.DEBUG)
    else:
        logging.getLogger("softswitch.sip.trace").setLevel(logging.INFO)
    load_or_exit(args.config)  # refuse to start on a bad config, listing every problem
    from .app import run

    try:
        run(args.config)
    except OSError as exc:  # a port taken, an address this machine does not have, a file it may not read
        logging.getLogger("softswitch").error("cannot start: %s", exc)
        return 1
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_or_exit(args.file)
    exts = sum(len(a.extensions) for a in config.accounts)
    print(f"{args.file}: OK ({len(config.accounts)} accounts, {exts} extensions)")
    return 0


def _account_config(args: argparse.Namespace) -> Config | None:
    """The config, and ``--account`` checked against it (None: said why)."""
    config = load_or_exit(args.config)
    if args.account and config.account(args.account) is None:
        print(f"no account named {args.account!r}", file=sys.stderr)
        return None
    return config


def cmd_registrations(args: argparse.Namespace) -> int:
    config = _account_config(args)
    if config is None:
        return 1
    now = time.time()
    rows = from_store(config, lambda store: store.list_bindings(now, args.account))
    header = ("ACCOUNT", "EXT", "CONTACT", "TRANSPORT", "SOURCE", "EXPIRES", "NAT", "USER-AGENT")
    print_table(header, [
        (b.account, b.extension, b.uri, b.source.transport, _addr(b.source.host, b.source.port),
         f"{max(0, int(b.expires_at - now + 0.5))}s", "yes" if b.nat else "no", b.user_agent or "-")
        for b in rows
    ])
    print(f"{len(rows)} registration{'s' if len(rows) != 1 else ''}")
    return 0


def _media(m: LegMediaRow) -> str:
    return f"{m.packets_in}/{m.packets_out}/{m.lost}/{m.jitter_ms:.1f}"


def cmd_calls(args: argparse.Namespace) -> int:
    config = _account_config(args)
    if config is None:
        return 1
    if args.active:
        return _active_calls(config, args)
    since = parse_since(args.since, time.time()) if args.since else None
    records = from_store(config, lambda store: store.list_calls(args.account, since, None, args.limit, args.person))
    if args.csv:
        sys.stdout.write(calls_csv(records))
        return 0
    header = ("START", "ACCOUNT", "CALLER", "CALLEE", "DIRECTION", "DISPOSITION", "DURATION", "BILLED",
              "HANGUP", "CAUSE", "PARK(slot parker>retriever)", "PATH", "RTP-A(in/out/lost/jit)", "RTP-B(in/out/lost/jit)", "ID",
              "PARTIES(who billed (how by +joined))")
    print_table(header, [
        (when(r.started), r.account, r.caller, r.callee, r.direction, r.disposition, f"{r.duration:.1f}s",
         f"{r.billed_seconds}s", r.hangup_by or "-", r.cause or "-", _park(r), ">".join(r.path) or "-",
         _media(r.media_a), _media(r.media_b), r.id, parties_cell(r))
        for r in records
    ])
    print(f"{len(records)} call{'s' if len(records) != 1 else ''}")
    return 0


def parties_cell(r: CallRow) -> str:
    """The story of a call in one cell, parties in the order they joined, each with its billed
    seconds; a party brought in by someone says how, by whom and when (seconds after the
    call started): ``101 40s > 102 12s > 104 28s (blind transfer by 102 +15s)``."""
    if not r.parties:
        return "-"
    cells = []
    for p in r.parties:
        cell = f"{p.who} {p.billed_seconds}s"
        if p.role not in ("caller", "callee") or p.by:
            by = f" by {p.by}" if p.by else ""
            cell += f" ({p.role}{by} +{int(max(0.0, p.joined - r.started) + 0.5)}s)"
        cells.append(cell)
    return " > ".join(cells)


def _park(r: CallRow) -> str:
    if r.park_slot is None:
        return "-"
    return f"{r.park_slot} {r.parked_by or '?'}>{r.retrieved_by or '-'}"


def cmd_parked(args: argparse.Namespace) -> int:
    """Occupied park slots, as recorded in the store by every switch process sharing it."""
    config = _account_config(args)
    if config is None:
        return 1
    rows = from_store(config, lambda store: store.list_parked(args.account))
    now = time.time()
    header = ("ACCOUNT", "SLOT", "PARKED PARTY", "PARKER", "PARKED AT", "EXPIRES", "SWITCH", "CALL")
    print_table(header, [
        (p.account, code(p.slot), p.party or "-", p.parker, when(p.parked_at), f"{max(0, int(p.expires_at - now))}s", node, p.call)
        for p, node in rows
    ])
    print(f"{len(rows)} parked call{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    """The nodes of a cluster, from their beats in the shared store."""
    config = load_or_exit(args.config)
    if config.cluster is None:
        print("this config has no cluster: section (one switch process)", file=sys.stderr)
        return 1
    settings = config.cluster

    async def nodes(store: Any) -> list[dict[str, Any]]:
        from .store.cluster import ClusterStore

        return await ClusterStore(store, settings.node).nodes()

    rows = from_store(config, nodes)
    now = time.time()

    def state(node: dict[str, Any]) -> str:
        if node["seen_at"] == 0.0:
            return "stopped"
        if now - node["seen_at"] >= settings.dead_after:
            return "dead"
        return "draining" if node["draining"] else "up"

    print_table(("NODE", "ADDRESS", "STATE", "STARTED", "LAST BEAT"), [
        (n["name"], n["address"], state(n), when(n["started_at"]), "-" if n["seen_at"] == 0.0 else f"{now - n['seen_at']:.1f}s ago")
        for n in rows
    ])
    up = sum(state(n) == "up" for n in rows)
    print(f"{len(rows)} node{'s' if len(rows) != 1 else ''}, {up} up")
    return 0


def _active_calls(config: Config, args: argparse.Namespace) -> int:
    from .admin import AdminError, query

    try:
        calls = query(config.admin.socket, "calls")
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    rows = [c for c in calls if not args.account or c["account"] == args.account]
    header = ("START", "ACCOUNT", "CALLER", "CALLEE", "STATE", "ANSWERED", "RTP-A(in/out/lost/jit)", "RTP-B(in/out/lost/jit)", "ID")
    print_table(header, [
        (when(c["started"]), c["account"], c["caller"], c["callee"], c["state"], when(c["answered"]),
         c["legs"].get("a", "-"), c["legs"].get("b", "-"), c["id"])
        for c in rows
    ])
    print(f"{len(rows)} active call{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_trunks(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    from .admin import AdminError, query

    try:
        rows = query(config.admin.socket, "trunks")
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    now = time.time()
    header = ("TRUNK", "HOST", "TRANSPORT", "STATE", "EXPIRES", "LAST", "SINCE")
    print_table(header, [
        (r["trunk"], r["host"], r["transport"], r["state"],
         "-" if r["expires_at"] is None else f"{max(0, int(r['expires_at'] - now))}s", r["last"] or "-", when(r["since"]))
        for r in rows
    ])
    print(f"{len(rows)} trunk{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    from .admin import AdminError, query

    try:
        print(query(config.admin.socket, "drain"))
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def cmd_bans(args: argparse.Namespace) -> int:
    """Sources the running switch is ignoring (README "Configuration": per-source limits), or
    ``--lift ADDR``: end that one's ban now."""
    config = load_or_exit(args.config)
    from .admin import AdminError, query

    try:
        if args.lift:
            lifted = query(config.admin.socket, f"lift {args.lift}")
            if lifted["lifted"] is None:
                print(f"{args.lift} is not banned")
                return 1
            print(f"lifted the ban on {lifted['lifted']} ({lifted['why']}; {lifted['dropped']} messages dropped)")
            return 0
        rows = query(config.admin.socket, "bans")
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    header = ("SOURCE", "WHY", "SINCE", "UNTIL", "LEFT", "DROPPED", "COUNTS")
    print_table(header, [
        (r["source"], r["why"], when(r["since"]), when(r["until"]), f"{int(r['left'] + 0.5)}s", str(r["dropped"]),
         ", ".join(f"{what} {n}" for what, n in r["counts"].items()) or "-")
        for r in rows
    ])
    print(f"{len(rows)} ban{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_counters(args: argparse.Namespace) -> int:
    """The running switch's counters, one ``section.name value`` a line."""
    config = load_or_exit(args.config)
    from .admin import AdminError, query

    try:
        sections = query(config.admin.socket, "counters")
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for section, values in sections.items():
        for name, value in values.items():
            print(f"{section}.{name} {value}")
    return 0


def _sound_facts(path: Path) -> tuple[str, str]:
    """(length, format) of a recording, for the recordings listing."""
    from .media.audio import SoundError, describe

    try:
        seconds, shape = describe(path)
    except SoundError as exc:
        return "-", f"unreadable: {exc}"
    if not shape.startswith("WAV 8000 Hz mono 16-bit"):
        shape += " (converted to 8 kHz mono when played)"
    return f"{seconds:.1f}s", shape


def _uses(account: Account) -> dict[str, list[str]]:
    """recording name -> what in the account's config plays it."""
    uses: dict[str, list[str]] = {}
    for menu in account.menus:
        uses.setdefault(menu.prompt, []).append(f"menu {menu.name}")
        uses.setdefault(menu.invalid_prompt, []).append(f"menu {menu.name} (wrong key)")
    wheres = [(f"hotline {h.number}", h.destination) for h in account.hotlines]
    wheres += [(f"hotline {h.number} ({r.name or f'rule {n + 1}'})", r.destination) for h in account.hotlines
               for n, r in enumerate(h.scenario)]
    wheres += [(f"menu {m.name} key {k}", d) for m in account.menus for k, d in m.options.items()]
    wheres += [(f"menu {m.name} fallback", m.fallback) for m in account.menus]
    for who, destination in wheres:
        if destination.startswith("announcement:"):
            uses.setdefault(destination.partition(":")[2], []).append(who)
    return uses


def cmd_recordings(args: argparse.Namespace) -> int:
    """Prompts and music per account: the registered recordings, park music, and the switch's
    own prompts the account's config uses."""
    from . import sounds

    config = _account_config(args)
    if config is None:
        return 1
    rows: list[tuple[str, ...]] = []
    for account in config.accounts:
        if args.account and account.name != args.account:
            continue
        uses = _uses(account)
        entries: list[tuple[str, str, Path]] = [(name, "recording", path) for name, path in account.recordings.items()]
        entries += [(name, "prompt (built-in)", sounds.prompt(name)) for name in sorted(uses)
                    if name not in account.recordings and name in sounds.PROMPTS]
        parks = [("park", account.park.music)] + [(f"park, site {s.name}", s.park.music) for s in account.sites if s.park]
        for who, music in parks:
            if music in account.recordings:
                uses.setdefault(music, []).append(f"{who} (music)")
            elif music is not None:
                entries.append((music, "music", Path(music)))
                uses.setdefault(music, []).append(who)
            elif who == "park":
                entries.append(("music-on-hold", "music (built-in)", sounds.music_on_hold()))
                uses.setdefault("music-on-hold", []).append(who)
        for name, kind, path in entries:
            seconds, shape = _sound_facts(path)
            rows.append((account.name, name, kind, seconds, shape, ", ".join(dict.fromkeys(uses.get(name, []))) or "-", str(path)))
    print_table(("ACCOUNT", "NAME", "KIND", "LENGTH", "FORMAT", "USED BY", "FILE"), rows)
    print(f"{len(rows)} recording{'s' if len(rows) != 1 else ''}")
    return 0


def _addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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

    calls = sub.add_parser("calls", help="call history (CDR); --active for the calls in progress")
    calls.add_argument("--config", default=DEFAULT_CONFIG)
    calls.add_argument("--account", help="only this account")
    calls.add_argument("--since", help="calls started since: 30m, 2h, 7d or an ISO date/time")
    calls.add_argument("--limit", type=int, help="only the newest N calls")
    calls.add_argument("--person", help="only calls of this person (as caller or callee), under any number they had")
    calls.add_argument("--csv", action="store_true", help="every field, as CSV on standard output")
    calls.add_argument("--active", action="store_true", help="calls in progress, with legs and media counters")
    calls.set_defaults(func=cmd_calls)

    parked = sub.add_parser("parked", help="occupied park slots (from the store)")
    parked.add_argument("--config", default=DEFAULT_CONFIG)
    parked.add_argument("--account", help="only this account")
    parked.set_defaults(func=cmd_parked)

    nodes = sub.add_parser("nodes", help="the nodes of a cluster and their heartbeats (from the shared store)")
    nodes.add_argument("--config", default=DEFAULT_CONFIG)
    nodes.set_defaults(func=cmd_nodes)

    trunks = sub.add_parser("trunks", help="trunks and their outbound registration status (asks the running switch)")
    trunks.add_argument("--config", default=DEFAULT_CONFIG)
    trunks.set_defaults(func=cmd_trunks)

    bans = sub.add_parser("bans", help="sources the running switch ignores (per-source limits); --lift ADDR ends one")
    bans.add_argument("--config", default=DEFAULT_CONFIG)
    bans.add_argument("--lift", metavar="ADDR", help="end this source's ban now")
    bans.set_defaults(func=cmd_bans)

    drain = sub.add_parser("drain", help="the running switch refuses new calls and OPTIONS (503) and exits when its "
                           "last call has ended (before an upgrade; SIGUSR1 does the same)")
    drain.add_argument("--config", default=DEFAULT_CONFIG)
    drain.set_defaults(func=cmd_drain)

    counters = sub.add_parser("counters", help="the running switch's counters (SIP, registrar, calls, security, gc, media)")
    counters.add_argument("--config", default=DEFAULT_CONFIG)
    counters.set_defaults(func=cmd_counters)

    recs = sub.add_parser("recordings", help="prompts and music per account, and what plays them; "
                          "'recordings calls' and 'recordings export ID' for recorded calls")
    recs.add_argument("--config", default=DEFAULT_CONFIG)
    recs.add_argument("--account", help="only this account")
    recs.set_defaults(func=cmd_recordings)
    recordings_cli.add_parsers(recs, DEFAULT_CONFIG)
    voicemail_cli.add_parser(sub, DEFAULT_CONFIG)
    tls_cli.add_parser(sub)

    info = sub.add_parser("login-info", help="what a phone needs to log in as an extension (as `extensions login-info`)")
    info.add_argument("extension")
    info.add_argument("--account", required=True)
    info.add_argument("--config", default=DEFAULT_CONFIG)
    info.set_defaults(func=ops_cli.cmd_login_info)
    ops_cli.add_parsers(sub, DEFAULT_CONFIG)
    phones_cli.add_parsers(sub, DEFAULT_CONFIG)
    plans_cli.add_parsers(sub, DEFAULT_CONFIG)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
    except SystemExit as exc:  # a command that stopped early (no such account, a config that does not load)
        if isinstance(exc.code, int):
            return exc.code
        raise
    except BrokenPipeError:  # the reader stopped early (`softswitch calls --csv | head`): not an error to show
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail
        return 0
    return result


if __name__ == "__main__":
    raise SystemExit(main())
