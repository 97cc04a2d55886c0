"""What every ``softswitch`` command shares: the config (every problem printed, exit 1), the
store opened for one question, tables, and ``--since`` times."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from .config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from .store import Store

T = TypeVar("T")


def load_or_exit(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(1) from None


def from_store(config: Config, query: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store, ask it one thing, close it."""
    async def run() -> T:
        from .store import open_store

        store = await open_store(config.store.url)
        try:
            return await query(store)
        finally:
            await store.close()

    return asyncio.run(run())


_RELATIVE = re.compile(r"(\d+)([smhd])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """``30m``, ``2h``, ``7d`` (ago), or an ISO date/time in local time (``2026-11-22``,
    ``2026-11-22T09:00``)."""
    m = _RELATIVE.match(text.strip())
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        return dt.datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since {text!r}: use 30m, 2h, 7d or an ISO date like 2026-11-22T09:00") from None


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``7d``: seconds (an argparse type)."""
    m = _RELATIVE.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: use a length like 90s, 15m, 2h or 7d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
