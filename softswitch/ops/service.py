"""The operations layer: one place where an operator's change is made, for the command line
and the admin API alike.

An operation is a pure edit of the config tree (``extensions.py``); here it is run through
``document.edit`` (validated, atomic, refused when stale), recorded in the audit log with who
did it, before and after, and applied to the running switch exactly as SIGHUP applies a
config.  What happened comes back as an ``Outcome``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..store.base import AuditLog
from ..store.records import AuditRow
from . import document
from . import extensions as ext
from .extensions import Change

# Letters and digits a person reads off a screen and types on a keypad without confusing them
# (no 0/O, 1/l/I): 20 of them are about 113 bits.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
PASSWORD_LENGTH = 20


def new_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


@dataclass(frozen=True)
class Outcome:
    change: Change
    version: str  # the file's version after the edit (the API's ETag)
    config: Config
    applied: str  # what the running switch said, or why it was not told


Apply = Callable[[Change], Awaitable[str]]  # tell the running switch; what it said


class Operations:
    def __init__(self, path: Path, audit: AuditLog, apply: Apply, actor: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.audit = audit
        self.apply = apply
        self.actor = actor
        self.clock = clock

    async def _run(self, op: Callable[[Any, Config], Change], expected: str | None) -> Outcome:
        edited = await asyncio.to_thread(document.edit, self.path, op, expected)
        change = edited.result
        await self.audit.add_audit([AuditRow(
            at=self.clock(), actor=self.actor, account=change.account, action=change.action,
            subject=change.subject, person=change.person,
            before=None if change.before is None else json.dumps(change.before, sort_keys=True),
            after=None if change.after is None else json.dumps(change.after, sort_keys=True),
            version=edited.version,
        )])
        applied = await self.apply(change)
        return Outcome(change, edited.version, edited.config, applied)

    async def add_person(self, account: str, ident: str, values: dict[str, Any], expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: ext.add_person(tree, account, ident, values), expected)

    async def update_person(self, account: str, ident: str, values: dict[str, Any], expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: ext.update_person(tree, account, ident, values), expected)

    async def grant(self, account: str, number: str, person: str, settings: dict[str, Any],
                    password: str | None = None, expected: str | None = None) -> Outcome:
        secret = password or new_password()
        return await self._run(
            lambda tree, _c: ext.grant(tree, account, number, person, settings, secret, generated=password is None), expected)

    async def update(self, account: str, number: str, settings: dict[str, Any], expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: ext.update(tree, account, number, settings), expected)

    async def set_password(self, account: str, number: str, password: str | None = None, expected: str | None = None) -> Outcome:
        secret = password or new_password()
        return await self._run(
            lambda tree, _c: ext.set_password(tree, account, number, secret, generated=password is None), expected)

    async def stop(self, account: str, number: str, expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: ext.stop(tree, account, number), expected)

    async def change_number(self, account: str, old: str, new: str, expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: ext.change_number(tree, account, old, new), expected)
