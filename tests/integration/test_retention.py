"""Recordings older than an account's retention are deleted and their rows marked
(retention.py), on the in-memory store and real files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from softswitch import retention
from softswitch.b2bua.record import CallRecord
from softswitch.config import load_config_text
from softswitch.store import MemoryStore
from softswitch.store.records import RecordingRow

DAY = 86400.0
NOW = 1_800_000_000.0
CONFIG = """\
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
accounts:
  - {name: acme, domain: acme.example, recording: {mode: always, retention_days: 30}}
  - {name: globex, domain: globex.example, recording: {mode: always}}
"""


def recorded(cid: str, account: str, age_days: float, path: Path) -> CallRecord:
    rec = CallRecord(cid, account, "101", "102", "internal", NOW - age_days * DAY)
    rec.recording = RecordingRow(str(path), 10.0, 160_044, "ab" * 32)
    return rec


async def test_old_recordings_are_deleted_and_marked_the_rest_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, config = MemoryStore(), load_config_text(CONFIG, "switch.yaml")
    files = {name: tmp_path / f"{name}.wav" for name in ("old", "new", "theirs")}
    for file in files.values():
        file.write_bytes(b"RIFF")
    await store.add_calls([
        recorded("old", "acme", 31, files["old"]).row(),
        recorded("gone", "acme", 40, tmp_path / "already-gone.wav").row(),  # a file removed by hand: deleted all the same
        recorded("new", "acme", 29, files["new"]).row(),
        recorded("theirs", "globex", 400, files["theirs"]).row(),  # no retention: kept for ever
        CallRecord("plain", "acme", "101", "102", "internal", NOW - 90 * DAY).row(),
    ])
    with caplog.at_level(logging.INFO, logger="softswitch.retention"):
        assert await retention.sweep(store, config, NOW) == 2
    assert not files["old"].exists() and files["new"].exists() and files["theirs"].exists()
    rows = {r.id: r for r in await store.list_calls()}
    assert {cid for cid, r in rows.items() if r.recording is not None and r.recording.deleted == NOW} == {"old", "gone"}
    assert rows["new"].recording is not None and rows["new"].recording.deleted is None
    assert "retention: 2 recordings of acme older than 30 days deleted" in caplog.text
    assert await retention.sweep(store, config, NOW + 60) == 0  # done once


async def test_a_file_that_cannot_be_deleted_is_tried_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, config = MemoryStore(), load_config_text(CONFIG, "switch.yaml")
    stuck = tmp_path / "old.wav"
    stuck.mkdir()  # unlink refuses a directory (EISDIR/EPERM), even to root
    await store.add_calls([recorded("old", "acme", 31, stuck).row()])
    assert await retention.sweep(store, config, NOW) == 0
    assert "could not be deleted" in caplog.text
    (row,) = await store.list_calls()
    assert row.recording is not None and row.recording.deleted is None
    stuck.rmdir()
    assert await retention.sweep(store, config, NOW) == 1
