"""Calls being recorded: each one's ``Recording`` (mix.py) fed by the relay, written to its
WAV file (wavfile.py) by one timer for all of them.

Every ``WRITE_EVERY`` seconds the timer writes the frames each recording owes (the clock
decides how many, so a late timer writes more, never a shorter file) and, once a second,
makes each file's header true (a crash loses at most that second).  A voicemail message (mono,
``silence`` seconds) whose caller has been quiet that long is told to ``on_silence`` once; at
``stop`` its quiet end is left out but for ``KEEP_QUIET``.  A file that cannot be
written (a full disk, a directory gone) ends that recording with one logged error and a
counter; the call goes on.  ``stop`` writes what is owed, closes the file and says what it
holds; the SHA-256 is read from the closed file off the event loop (``digest``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .mix import Recording
from .wavfile import WavWriter

log = logging.getLogger(__name__)

WRITE_EVERY = 0.1  # seconds
FLUSH_EVERY = 1.0
KEEP_QUIET = 0.5  # seconds of a message's quiet end kept


@dataclass(frozen=True, slots=True)
class RecordedFile:
    path: Path
    seconds: float
    size: int  # bytes
    voiced: bool = True  # mono: the caller made a sound at all


@dataclass
class _Recorder:
    recording: Recording
    writer: WavWriter
    flushed_at: float
    silence: float | None = None  # seconds of quiet that end a message


class Recorders:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.active: dict[str, _Recorder] = {}
        self.counters = {"recordings_started": 0, "recordings_failed": 0, "recordings_written": 0}
        self.on_silence: Callable[[str], None] = lambda session_id: None
        self._timer: asyncio.TimerHandle | None = None

    def start(self, session_id: str, path: Path, *, mono: bool = False, silence: float | None = None) -> Recording:
        """Begin recording into ``path`` (a new file; ``mono``: the caller side only, and
        ``silence`` seconds of quiet told to ``on_silence``); ``OSError`` if it cannot be made."""
        now = self.loop.time()
        writer = WavWriter(path, channels=1 if mono else 2)
        recorder = self.active[session_id] = _Recorder(Recording(now, mono=mono), writer, now,
                                                       silence if mono else None)
        self.counters["recordings_started"] += 1
        if self._timer is None:
            self._timer = self.loop.call_later(WRITE_EVERY, self._tick)
        return recorder.recording

    def pause(self, session_id: str, paused: bool) -> None:
        recorder = self.active.get(session_id)
        if recorder is not None:
            self._write(session_id, recorder, self.loop.time())
            recorder.recording.pause(paused)

    def stop(self, session_id: str) -> RecordedFile | None:
        """End the recording of a call: what it holds, or None (none, or it failed)."""
        recorder = self.active.pop(session_id, None)
        if recorder is None:
            return None
        if not self._write(session_id, recorder, self.loop.time()):
            return None
        recording, writer = recorder.recording, recorder.writer
        try:
            if recording.mono:
                quiet = max(0.0, recording.quiet_seconds - KEEP_QUIET)
                writer.cut(writer.data_bytes - 2 * round(quiet * writer.rate))
            writer.close()
        except OSError as exc:  # its sound is all there: kept where it is, though no row names it
            self._failed(session_id, recorder, exc, remove=False)
            return None
        self.counters["recordings_written"] += 1
        return RecordedFile(writer.path, round(writer.seconds, 3), 44 + writer.data_bytes, recording.voiced or not recording.mono)

    def _tick(self) -> None:
        self._timer = None
        try:
            self._write_all(self.loop.time())
        finally:  # (a failure in one call's hook must not stop every recording)
            if self.active and self._timer is None:
                self._timer = self.loop.call_later(WRITE_EVERY, self._tick)

    def _write_all(self, now: float) -> None:
        for session_id, recorder in list(self.active.items()):
            if not self._write(session_id, recorder, now):
                continue
            if recorder.silence is not None and recorder.recording.quiet_seconds >= recorder.silence:
                recorder.silence = None  # told once
                try:
                    self.on_silence(session_id)  # which may stop it
                except Exception:
                    log.exception("call %s: acting on its caller's silence failed", session_id)
                if self.active.get(session_id) is not recorder:
                    continue
            if now - recorder.flushed_at >= FLUSH_EVERY:
                try:
                    recorder.writer.flush()
                    recorder.flushed_at = now
                except OSError as exc:
                    self._failed(session_id, recorder, exc)

    def _write(self, session_id: str, recorder: _Recorder, now: float) -> bool:
        try:
            recorder.writer.write(recorder.recording.due(now))
        except Exception as exc:  # (OSError: a full disk; anything else is a bug, which ends this recording only)
            self._failed(session_id, recorder, exc)
            return False
        return True

    def _failed(self, session_id: str, recorder: _Recorder, exc: Exception, *, remove: bool = True) -> None:
        """The recording ends here, the call goes on; its file is ``remove``d (no call row names
        a recording that failed: kept, it would be a file no retention ever removes)."""
        self.active.pop(session_id, None)
        self.counters["recordings_failed"] += 1
        log.error("recording of call %s to %s stopped%s: %s (the call goes on)", session_id, recorder.writer.path,
                  " and removed" if remove else ", the file kept", getattr(exc, "strerror", None) or exc,
                  exc_info=exc if not isinstance(exc, OSError) else None)
        try:
            recorder.writer.close()
        except OSError:
            pass
        if remove:
            try:
                recorder.writer.path.unlink(missing_ok=True)
            except OSError as error:
                log.error("recording of call %s: %s not removed: %s", session_id, recorder.writer.path, error)

    def shutdown(self) -> None:
        for session_id in list(self.active):
            self.stop(session_id)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def digest(path: Path) -> str:
    """SHA-256 of a file, hex (run it in a thread: a long recording is many megabytes)."""
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()
