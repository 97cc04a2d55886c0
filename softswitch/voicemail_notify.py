"""Telling a mailbox's person of a new message (SPEC "Voicemail, recording, supervision"): an
e-mail with the message's WAV attached (SMTP, ``aiosmtplib``, through the config's
``notify.smtp``) to the person's address, and/or a JSON POST to the account's
``voicemail.webhook``.  A notification that cannot be delivered is logged; the message stays.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx

from .config import Config
from .store.records import MessageRow

log = logging.getLogger(__name__)


def mail(row: MessageRow, sender: str, to: str, audio: bytes) -> EmailMessage:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.received))
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Voicemail for {row.mailbox} from {row.caller} ({row.seconds:.0f} s)"
    message.set_content(f"{row.caller} left a message of {row.seconds:.0f} seconds for {row.mailbox} at {when}.\n"
                        f"Dial the voicemail code from your phone to hear it, or play the attached file.\n")
    message.add_attachment(audio, maintype="audio", subtype="wav", filename=f"voicemail-{row.id}.wav")
    return message


async def tell(config: Config, row: MessageRow) -> list[str]:
    """Deliver the news of ``row``; one line per delivery saying what happened."""
    account = config.account(row.account)
    if account is None:
        return []
    report: list[str] = []
    extension = account.extension(row.mailbox)
    person = account.person(extension.person) if extension is not None and extension.person else None
    smtp = config.notify.smtp if config.notify is not None else None
    if account.voicemail.email and person is not None and person.email:
        if smtp is None:
            report.append(f"e-mail to {person.email} not sent: no notify.smtp in the config")
        else:
            try:
                audio = await asyncio.to_thread(Path(row.path).read_bytes)
                await aiosmtplib.send(mail(row, smtp.sender, person.email, audio), hostname=smtp.host, port=smtp.port,
                                      start_tls=smtp.starttls, username=smtp.username, password=smtp.password,
                                      timeout=smtp.timeout)
                report.append(f"e-mailed {person.email}")
            except (aiosmtplib.SMTPException, OSError) as exc:
                report.append(f"e-mail to {person.email} failed: {exc}")
    if account.voicemail.webhook:
        payload = {"event": "voicemail", "account": row.account, "mailbox": row.mailbox, "person": row.person,
                   "caller": row.caller, "received": row.received, "seconds": row.seconds, "message": row.id}
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(account.voicemail.webhook, content=json.dumps(payload),
                                             headers={"Content-Type": "application/json"})
            report.append(f"webhook: HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            report.append(f"webhook failed: {exc}")
    return report
