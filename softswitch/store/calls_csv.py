"""The call history as CSV (``softswitch calls --csv`` and the admin API's export): one row per
call in ``CallRow.columns()`` order, times as local ``YYYY-MM-DD HH:MM:SS``, the parties as
``who|role|joined|left|by|billed`` joined by ``;``."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable

from .records import CallRow, PartyRow

TIMES = ("started", "answered", "ended", "parked_at", "retrieved_at")


def when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def parties_csv(parties: tuple[PartyRow, ...]) -> str:
    """The ``parties`` field (a missing ``left`` or ``by`` is empty)."""
    return ";".join(
        "|".join((p.who, p.role, when(p.joined), "" if p.left is None else when(p.left), p.by or "", str(p.billed_seconds)))
        for p in parties)


def calls_csv(records: Iterable[CallRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CallRow.columns(), lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = record.as_row()
        row["parties"] = parties_csv(record.parties)
        for key in TIMES:
            row[key] = when(row[key])
        writer.writerow(row)
    return out.getvalue()
