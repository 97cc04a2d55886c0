"""A new voicemail message told to its mailbox's person: mail with the WAV through a real SMTP
server (aiosmtpd), a JSON POST to the account's webhook, and what is said when mail cannot go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from softswitch.config import load_config_text
from softswitch.store.records import MessageRow
from softswitch.voicemail_notify import tell

from ..smtp import smtp_server
from .test_notify import webhook  # noqa: F401 (the fixture)

CONFIG = """\
server: {{listen: [{{transport: udp, address: 127.0.0.1, port: 5060}}]}}
{notify}
accounts:
  - name: acme
    domain: acme.example
    voicemail: {{webhook: "http://127.0.0.1:{http_port}/vm"}}
    people: [{{id: e102, name: Bob, email: bob@acme.example}}]
    extensions:
      - {{number: "102", password: secret-102, person: e102}}
"""


async def test_the_person_gets_the_wav_and_the_webhook_the_facts(tmp_path: Path, webhook: tuple[list[Any], int]) -> None:  # noqa: F811
    posted, http_port = webhook
    wav = tmp_path / "m1.wav"
    wav.write_bytes(b"RIFF....WAVEfmt fake audio")
    row = MessageRow("m1", "acme", "102", "e102", "0912345678", 1_765_000_000.0, 7.4, str(wav))
    with smtp_server() as (inbox, smtp_port):
        notify = f"notify: {{smtp: {{host: 127.0.0.1, port: {smtp_port}, sender: pbx@acme.example}}}}"
        config = load_config_text(CONFIG.format(notify=notify, http_port=http_port), "vm.yaml")
        report = await tell(config, row)
    assert report == ["e-mailed bob@acme.example", "webhook: HTTP 204"]
    ((to, mail),) = inbox.messages
    assert to == ["bob@acme.example"] and mail["Subject"] == "Voicemail for 102 from 0912345678 (7 s)"
    (attachment,) = [part for part in mail.walk() if part.get_filename()]
    assert attachment.get_filename() == "voicemail-m1.wav" and attachment.get_payload(decode=True) == wav.read_bytes()
    assert posted == [{"event": "voicemail", "account": "acme", "mailbox": "102", "person": "e102", "caller": "0912345678",
                       "received": 1_765_000_000.0, "seconds": 7.4, "message": "m1"}]

    config = load_config_text(CONFIG.format(notify="", http_port=http_port), "vm.yaml")
    assert (await tell(config, row))[0] == "e-mail to bob@acme.example not sent: no notify.smtp in the config"
