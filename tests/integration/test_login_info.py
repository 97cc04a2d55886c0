"""Login information names a server address a phone can reach, never a wildcard."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from softswitch.cli import main
from softswitch.config import load_config_text
from softswitch.ops.login import login_info, reachable

CONFIG = """\
server:
  listen:
    - {transport: udp, address: "%s", port: 5070}
    - {transport: tls, address: "%s", port: 5071}
accounts:
  - name: acme
    domain: acme.example
    extensions:
      - {number: "101", password: "acme-101-secret", display_name: Reception}
"""


def test_a_wildcard_listen_address_becomes_one_the_machine_sends_from() -> None:
    for wildcard in ("0.0.0.0", "::"):
        address = ipaddress.ip_address(reachable(wildcard))
        assert not address.is_unspecified and address.version == ipaddress.ip_address(wildcard).version
    assert reachable("127.0.0.1") == "127.0.0.1"


def test_login_info_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config_text(CONFIG % ("0.0.0.0", "0.0.0.0"))
    account = config.accounts[0]
    lines = dict(login_info(config, account, account.extensions[0], password="acme-101-secret"))
    assert lines["Server (proxy)"] != "0.0.0.0" and lines["Port"] == "5070" and lines["Transport"] == "UDP"
    assert lines["Other transports"] == "TLS 5071" and lines["Username"] == lines["Auth username"] == "101"
    assert lines["Password"] == "acme-101-secret" and lines["Display name"] == "Reception"

    path = tmp_path / "switch.yaml"
    path.write_text(CONFIG % ("127.0.0.1", "127.0.0.1"))
    for command in (["login-info"], ["extensions", "login-info"]):
        assert main([*command, "101", "--account", "acme", "--config", str(path)]) == 0
        out = capsys.readouterr().out
        assert "Server (proxy)       127.0.0.1\n" in out and "Password             acme-101-secret\n" in out
