"""Recordings kept as long as each account says (``recording.retention_days``), then deleted.

Every ``EVERY`` seconds (and once at start) each account with a retention gets the recorded
calls that started before its cutoff and still have their file: each file is deleted and the
history rows are marked (``recording_deleted``: when); the rows themselves stay, as the
history is kept apart from the audio.  A file already gone counts as deleted; one that cannot
be deleted (a permission changed) is logged and tried again next time.  At most ``BATCH``
files per account per pass, so a first pass over years of recordings does not hold the loop.
With several switch processes on one store each may do it: deleting twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from .config import Config
from .store import Store

log = logging.getLogger(__name__)

EVERY = 3600.0  # seconds
BATCH = 1000
DAY = 86400.0


async def sweep(store: Store, config: Config, now: float) -> int:
    """One pass: the number of recordings deleted."""
    deleted = 0
    for account in config.accounts:
        days = account.recording.retention_days
        if days is None:
            continue
        rows = await store.expired_recordings(account.name, now - days * DAY, BATCH)
        gone: list[str] = []
        for row in rows:
            assert row.recording is not None
            path = Path(row.recording.path)
            try:
                await asyncio.to_thread(path.unlink, missing_ok=True)
            except OSError as exc:
                log.error("recording %s of call %s (older than %d days) could not be deleted: %s", path, row.id, days,
                          exc.strerror or exc)
                continue
            gone.append(row.id)
        await store.recordings_deleted(gone, now)
        if gone:
            log.info("retention: %d recording%s of %s older than %d days deleted", len(gone), "s" if len(gone) != 1 else "",
                     account.name, days)
        deleted += len(gone)
    return deleted


async def run(store: Store, config: Callable[[], Config], every: float = EVERY) -> None:
    """``sweep`` now and every ``every`` seconds, with the config as it is then."""
    while True:
        try:
            await sweep(store, config(), time.time())
        except Exception:
            log.exception("internal error deleting old recordings")
        await asyncio.sleep(every)
