"""``softswitch calls`` on an SQLite history: the parties column of the table and of ``--csv``."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from softswitch.b2bua.record import CallRecord
from softswitch.cli import main, parties_cell
from softswitch.store import open_store
from softswitch.store.calls_csv import parties_csv
from softswitch.store.records import PartyRow

T0 = 1_800_000_000.0

# The CSV columns as they were before the parties: scripts read them by name and position.
COLUMNS = [
    "id", "account", "caller", "callee", "direction", "started", "hotline", "answered", "ended", "disposition",
    "hangup_by", "cause", "caller_device", "callee_device", "answered_by", "park_slot", "parked_by", "parked_at",
    "retrieved_by", "retrieved_at", "path", "a_packets_in", "a_packets_out", "a_lost", "a_jitter_ms",
    "b_packets_in", "b_packets_out", "b_lost", "b_jitter_ms", "duration", "billed_seconds", "caller_person", "callee_person",
    "recording_path", "recording_seconds", "recording_bytes", "recording_sha256", "recording_deleted",
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "switch.yaml"
    path.write_text(
        "server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}\n"
        f"store: {{url: 'sqlite+aiosqlite:///{tmp_path}/history.db'}}\n"
        "accounts:\n"
        "  - {name: acme, domain: acme.example, extensions: [{number: 101, password: secret-101x}]}\n")
    transferred = CallRecord("c1", "acme", "101", "102", "internal", T0, answered=T0 + 2.0, ended=T0 + 40.0,
                             disposition="answered", hangup_by="caller")
    transferred.joined("101", "caller", T0 + 2.0)
    transferred.joined("102", "callee", T0 + 2.0)
    transferred.left("102", T0 + 14.6)
    transferred.joined("104", "blind transfer", T0 + 14.6, by="102")
    transferred.left(None, T0 + 40.0)
    busy = CallRecord("c2", "acme", "101", "103", "internal", T0 + 60.0, ended=T0 + 61.0, disposition="busy")

    async def seed() -> None:
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/history.db")
        await store.add_calls([transferred.row(), busy.row()])
        await store.close()

    asyncio.run(seed())
    return path


def test_csv_has_the_parties_last(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "--config", str(config), "--csv"]) == 0
    out = capsys.readouterr().out
    header = next(csv.reader(io.StringIO(out)))
    assert header == [*COLUMNS, "parties"]
    transferred, busy = csv.DictReader(io.StringIO(out))
    parties = [p.split("|") for p in transferred["parties"].split(";")]
    assert [(p[0], p[1], p[4], p[5]) for p in parties] == [
        ("101", "caller", "", "38"), ("102", "callee", "", "13"), ("104", "blind transfer", "102", "25")]
    assert parties[2][2] == parties[1][3]  # 104 joined when 102 left
    assert busy["parties"] == "" and busy["billed_seconds"] == "0"


def test_table_tells_the_story(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "--config", str(config)]) == 0
    header, transferred, busy, count = capsys.readouterr().out.splitlines()
    assert header.endswith("  ID  PARTIES(who billed (how by +joined))")
    assert transferred.endswith("c1  101 38s > 102 13s > 104 25s (blind transfer by 102 +15s)")
    assert busy.endswith("-") and count == "2 calls"


def test_cells_without_parties_or_leaving() -> None:
    assert parties_cell(CallRecord("c3", "acme", "101", "102", "internal", T0).row()) == "-"
    held = PartyRow("101", "caller", T0), PartyRow("104", "pick-up", T0 + 5.0, by="102")
    assert [p.split("|")[3:] for p in parties_csv(held).split(";")] == [["", "", "0"], ["", "102", "0"]]



def test_a_reader_that_stops_early_is_not_an_error(config: Path) -> None:
    """``softswitch calls --csv | head -1``: the reader is gone before the rows are written
    (here from the start: a pipe whose reading end is closed); no traceback, exit 0."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "softswitch", "calls", "--config", str(config), "--csv"],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
