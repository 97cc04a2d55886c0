"""Change notifications reach a real SMTP server (aiosmtpd) and the account's webhook (a local
HTTP server): what changed, to whom, before and after, and who did it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from softswitch.cli import main

from ..smtp import Inbox, smtp_server

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[tuple[list[Any], int]]:
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received, server.server_address[1]
    server.shutdown()


def test_a_grant_is_mailed_and_posted(tmp_path: Path, smtp: tuple[Inbox, int], webhook: tuple[list[Any], int],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    inbox, smtp_port = smtp
    posted, http_port = webhook
    path = tmp_path / "switch.yaml"
    text = EXAMPLE.read_text().replace("sqlite+aiosqlite:///softswitch.db", f"sqlite+aiosqlite:///{tmp_path}/s.db")
    text = text.replace("\naccounts:\n", f"""
admin: {{socket: {tmp_path}/none.sock}}
notify:
  smtp: {{host: 127.0.0.1, port: {smtp_port}, sender: softswitch@acme.example}}

accounts:
""", 1).replace("    default: true", f"""    default: true
    notify: {{emails: [it@acme.example], webhook: "http://127.0.0.1:{http_port}/hook"}}
    people:
      - {{id: e100, name: Lan Nguyen, email: lan@acme.example}}""", 1)
    path.write_text(text)
    c = ["--account", "acme", "--config", str(path)]
    assert main(["extensions", "grant", "106", "--person", "e100", "--alias", "lan", "--notify", "e100",
                 "--notify", "boss@acme.example", *c]) == 0
    out = capsys.readouterr().out
    assert "notify: e-mailed it@acme.example, lan@acme.example, boss@acme.example" in out, out
    assert "notify: webhook of acme: HTTP 204" in out
    (rcpt, message), = inbox.messages
    assert sorted(rcpt) == ["boss@acme.example", "it@acme.example", "lan@acme.example"]
    assert message["Subject"] == "softswitch: grant extension 106 (acme)"
    body = message.get_payload()
    assert "made 1 change:" in body and "- grant extension 106 (acme)" in body and "    alias: (none) -> lan" in body
    assert "(command line) made" in body and "password: (none) -> (set)" in body
    (hook,) = posted
    assert hook["account"] == "acme" and hook["changes"][0]["action"] == "grant" and hook["actor"].endswith("(command line)")

    assert main(["extensions", "update", "106", "--alias", "lan2", "--notify", "nobody", *c]) == 0
    out = capsys.readouterr().out
    assert "notify: no person 'nobody' to notify" in out and "alias: lan -> lan2" in inbox.messages[1][1].get_payload()
