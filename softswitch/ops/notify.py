"""Telling people about a change: an e-mail (SMTP, ``aiosmtplib``) to chosen addresses and/or a
JSON POST to the account's webhook, saying what changed, to whom, and who did it.

A notification that cannot be delivered is reported back (the change itself stands: it is
written, audited and applied before anyone is told)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from ..config import Config
from .extensions import Change


def text_of(changes: Sequence[Change], actor: str) -> str:
    lines = [f"{actor} made {len(changes)} change{'s' if len(changes) != 1 else ''}:", ""]
    for change in changes:
        lines.append(f"- {change.summary()}")
        for key in sorted(set(change.before or {}) | set(change.after or {})):
            before, after = (change.before or {}).get(key), (change.after or {}).get(key)
            if before != after:
                lines.append(f"    {key}: {_show(before)} -> {_show(after)}")
    return "\n".join(lines) + "\n"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def recipients(config: Config, changes: Sequence[Change], chosen: Sequence[str]) -> tuple[list[str], list[str]]:
    """The e-mail addresses to tell: the accounts' ``notify.emails`` and the ``chosen`` (an
    address, or a person's id: their e-mail); and what could not be resolved."""
    emails: list[str] = []
    problems: list[str] = []
    names = sorted({c.account for c in changes})
    for name in names:
        account = config.account(name)
        if account is not None and account.notify is not None:
            emails += account.notify.emails
    for who in chosen:
        if "@" in who:
            emails.append(who)
            continue
        people = [p for name in names if (a := config.account(name)) is not None for p in a.people if p.id == who]
        if not people:
            problems.append(f"no person {who!r} to notify")
        elif people[0].email is None:
            problems.append(f"person {who} has no e-mail address")
        else:
            emails.append(people[0].email)
    return list(dict.fromkeys(emails)), problems


async def send(config: Config, changes: Sequence[Change], actor: str, emails: Sequence[str]) -> list[str]:
    """Deliver to ``emails`` and the accounts' webhooks; one line per delivery saying what happened."""
    if not changes:
        return []
    report: list[str] = []
    subject = f"softswitch: {changes[0].summary()}" + (f" and {len(changes) - 1} more" if len(changes) > 1 else "")
    body = text_of(changes, actor)
    if emails:
        smtp = config.notify.smtp if config.notify is not None else None
        if smtp is None:
            report.append(f"e-mail to {', '.join(emails)} not sent: no notify.smtp in the config")
        else:
            message = EmailMessage()
            message["From"] = smtp.sender
            message["To"] = ", ".join(emails)
            message["Subject"] = subject
            message.set_content(body)
            try:
                await aiosmtplib.send(message, hostname=smtp.host, port=smtp.port, start_tls=smtp.starttls,
                                      username=smtp.username, password=smtp.password, timeout=smtp.timeout)
                report.append(f"e-mailed {', '.join(emails)}")
            except (aiosmtplib.SMTPException, OSError) as exc:
                report.append(f"e-mail to {', '.join(emails)} failed: {exc}")
    for name in sorted({c.account for c in changes}):
        account = config.account(name)
        url = account.notify.webhook if account is not None and account.notify is not None else None
        if url is not None:
            payload = {"actor": actor, "account": name, "changes": [
                {"action": c.action, "subject": c.subject, "person": c.person, "before": c.before, "after": c.after}
                for c in changes if c.account == name]}
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.post(url, content=json.dumps(payload), headers={"Content-Type": "application/json"})
                report.append(f"webhook of {name}: HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                report.append(f"webhook of {name} failed: {exc}")
    return report
