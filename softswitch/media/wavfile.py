"""A WAV file written as a call goes on: 16-bit PCM, its header kept true as it grows.

The header's two sizes (RIFF chunk, data chunk) are rewritten at every ``flush``, so a
switch that dies loses at most what was written since the last one (the recorder flushes
every second); the samples after it are in the file, past the size the header gives.  The
file is created for its owner only (0600: recordings are personal data) and never replaces
an existing one.  Every ``OSError`` (a full disk, a directory gone) reaches the caller, who
stops recording and lets the call go on.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # RIFF, fmt (PCM, 16 bytes), data: 44 bytes


def header(channels: int, rate: int, data_bytes: int) -> bytes:
    align = 2 * channels
    return HEADER.pack(b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels, rate, rate * align, align, 16,
                       b"data", data_bytes)


class WavWriter:
    def __init__(self, path: Path, *, channels: int = 2, rate: int = 8000) -> None:
        self.path = path
        self.channels, self.rate = channels, rate
        self.data_bytes = 0
        self._flushed = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        try:
            self._file.write(header(channels, rate, 0))
        except OSError:
            self._file.close()
            raise

    def write(self, samples: bytes) -> None:
        self._file.write(samples)
        self.data_bytes += len(samples)

    def flush(self) -> None:
        """Make the header say how much the file holds, and hand it all to the kernel."""
        if self.data_bytes == self._flushed:
            return
        self._file.flush()
        os.pwrite(self._file.fileno(), header(self.channels, self.rate, self.data_bytes), 0)
        self._flushed = self.data_bytes

    def cut(self, data_bytes: int) -> None:
        """Leave out everything after the first ``data_bytes`` of samples."""
        if data_bytes >= self.data_bytes:
            return
        self._file.flush()
        self._file.truncate(HEADER.size + data_bytes)
        self._file.seek(HEADER.size + data_bytes)
        self.data_bytes = data_bytes
        self._flushed = -1  # the header says more than the file holds now

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._file.close()

    @property
    def seconds(self) -> float:
        return self.data_bytes / (2 * self.channels * self.rate)
