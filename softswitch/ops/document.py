"""The operator's YAML file, edited in place: comments, order and layout kept.

The command line and the admin API change the config only through ``edit``: the file is
read and parsed round-trip (``ruamel.yaml``), the change is made on that tree, the result is
validated by the same loader the switch uses (every problem as ``file:line: path: message``),
and only a valid text replaces the file, by writing a temporary file beside it and renaming
it over the old one (the file is old or new, never half written).  An edit names the version
it read (a hash of the file's bytes, the API's ETag); if the file changed since, the edit is
refused as stale and nothing is written.  Edits from several processes are serialised by an
advisory lock on a file beside the config.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ruamel.yaml import YAML

from ..config import Config, load_config_text

R = TypeVar("R")


class StaleEdit(Exception):
    """The file changed since the version the edit was made from (HTTP 409)."""

    def __init__(self, path: Path, expected: str, current: str) -> None:
        super().__init__(f"{path} changed since version {expected} was read (it is now {current}): "
                         "read it again and redo the change")
        self.expected = expected
        self.current = current


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold a long line the operator wrote on one
    y.indent(mapping=2, sequence=4, offset=2)
    return y


@dataclass(frozen=True)
class Snapshot:
    """One version of the file: its text, parsed round-trip, and the validated config."""

    path: Path
    text: str
    version: str
    tree: Any
    config: Config


@dataclass(frozen=True)
class Edited(Generic[R]):
    before: Snapshot
    version: str  # of the file as written
    config: Config
    result: R


def read(path: Path) -> Snapshot:
    data = path.read_bytes()
    text = data.decode("utf-8")
    config = load_config_text(text, str(path))
    return Snapshot(path, text, version_of(data), _yaml().load(text), config)


def render(tree: Any) -> str:
    out = io.StringIO()
    _yaml().dump(tree, out)
    return out.getvalue()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _replace(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def edit(path: Path, change: Callable[[Any, Config], R], expected: str | None = None, dry_run: bool = False) -> Edited[R]:
    """Apply ``change`` (which mutates the round-trip tree, given the current valid config, and
    may raise ``ValueError`` to refuse) and write the file if the result is valid.

    ``expected``: the version the caller's decision was made from (None: whatever is current).
    Raises ``StaleEdit``, ``ConfigError`` (the edited file's problems; nothing written) or the
    change's ``ValueError``.  ``dry_run``: everything but the writing."""
    with _locked(path):
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by an edit killed mid-way (we hold the lock)
            stale.unlink(missing_ok=True)
        before = read(path)
        if expected is not None and expected != before.version:
            raise StaleEdit(path, expected, before.version)
        tree = _yaml().load(before.text)
        result = change(tree, before.config)
        text = render(tree)
        config = load_config_text(text, str(path))  # ConfigError: the edited text's problems, nothing written
        if text != before.text and not dry_run:
            _replace(path, text)
        return Edited(before, version_of(text.encode("utf-8")), config, result)
