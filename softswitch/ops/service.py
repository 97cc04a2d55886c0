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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..store.base import AuditLog
from ..store.records import AuditRow
from . import devices, document, notify, plans, tokens
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
    changes: list[Change]  # one per person or extension changed (none: nothing to do)
    version: str  # the file's version after the edit (the API's ETag)
    config: Config
    applied: str  # what the running switch said, or why it was not told
    notified: list[str] = field(default_factory=list)  # what each notification did

    @property
    def change(self) -> Change:
        return self.changes[0]


Apply = Callable[[Change], Awaitable[str]]  # tell the running switch; what it said


class Operations:
    def __init__(self, path: Path, audit: AuditLog, apply: Apply, actor: str, clock: Callable[[], float] = time.time,
                 notify: Sequence[str] = ()) -> None:
        self.path = path
        self.audit = audit
        self.apply = apply
        self.actor = actor
        self.clock = clock
        self.notify = notify  # e-mail addresses or people's ids told of each change (besides the accounts' own)

    async def _run(self, op: Callable[[Any, Config], Change | list[Change]], expected: str | None,
                   dry_run: bool = False) -> Outcome:
        edited = await asyncio.to_thread(document.edit, self.path, op, expected, dry_run)
        changes = edited.result if isinstance(edited.result, list) else [edited.result]
        if dry_run:
            return Outcome(changes, edited.before.version, edited.config, "a dry run: nothing was written")
        if not changes:
            return Outcome(changes, edited.version, edited.config, "nothing to change")
        at = self.clock()
        await self.audit.add_audit([AuditRow(
            at=at, actor=self.actor, account=change.account, action=change.action,
            subject=change.subject, person=change.person,
            before=None if change.before is None else json.dumps(change.before, sort_keys=True),
            after=None if change.after is None else json.dumps(change.after, sort_keys=True),
            version=edited.version,
        ) for change in changes])
        applied = await self.apply(changes[0])
        emails, problems = notify.recipients(edited.config, changes, self.notify)
        notified = problems + await notify.send(edited.config, changes, self.actor, emails)
        return Outcome(changes, edited.version, edited.config, applied, notified)

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

    # --- calling plans ---------------------------------------------------------------
    async def assign_plan(self, account: str, plan: str, people: Sequence[str], expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: plans.assign(tree, account, plan, people), expected)

    async def remove_plan(self, account: str, plan: str, people: Sequence[str], expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: plans.remove(tree, account, plan, people), expected)

    async def replace_plan(self, old: str, new: str, account: str | None = None, people: Sequence[str] | None = None,
                           expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: plans.replace(tree, old, new, account, people), expected)

    async def import_plans(self, account: str, data: str, dry_run: bool = False, expected: str | None = None) -> Outcome:
        """Raises ``plans.CsvErrors`` (every problem) and then nothing is changed."""
        return await self._run(lambda tree, _c: plans.import_csv(tree, account, data), expected, dry_run)

    async def note(self, account: str, action: str, subject: str) -> None:
        """Audit something handed out that changes nothing (a sign-in link, a QR code with the
        password in it): who made it, for which extension, when."""
        version = (await asyncio.to_thread(document.read, self.path)).version
        await self.audit.add_audit([AuditRow(at=self.clock(), actor=self.actor, account=account, action=action,
                                             subject=subject, person=None, before=None, after=None, version=version)])

    # --- provisioned phones ---------------------------------------------------------------
    async def add_device(self, account: str, mac: str, model: str, lines: Sequence[str], password: str | None = None,
                         blf: Sequence[str] = (), park_keys: int | None = None, label: str | None = None,
                         expected: str | None = None) -> Outcome:
        secret = password or new_password()
        return await self._run(lambda tree, _c: devices.add_device(
            tree, account, mac, model, list(lines), secret, password is None, list(blf), park_keys, label), expected)

    async def remove_device(self, account: str, mac: str, expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: devices.remove_device(tree, account, mac), expected)

    # --- admin API tokens --------------------------------------------------------------
    async def add_token(self, name: str, sha256: str, account: str | None, expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: tokens.add(tree, name, sha256, account), expected)

    async def revoke_token(self, name: str, expected: str | None = None) -> Outcome:
        return await self._run(lambda tree, _c: tokens.revoke(tree, name), expected)
