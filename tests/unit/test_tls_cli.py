"""``softswitch tls self-signed``: a certificate and key Python's TLS server loads, naming the
hosts asked for, the key private, an existing file kept."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from softswitch.cli import main


def test_a_self_signed_certificate_for_the_names_asked_loads_and_keeps_its_key_private(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    assert main(["tls", "self-signed", "--cert", str(cert), "--key", str(key), "--name", "pbx.example",
                 "--name", "127.0.0.1", "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert "SHA-256 fingerprint: " in out and "server.tls" in out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)  # a TLS server takes them
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["pbx.example"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    before = cert.read_bytes()
    assert main(["tls", "self-signed", "--cert", str(cert), "--key", str(key)]) == 1  # kept
    assert cert.read_bytes() == before and "not replaced" in capsys.readouterr().out
    assert main(["tls", "self-signed", "--cert", str(cert), "--key", str(key), "--force"]) == 0
    assert cert.read_bytes() != before
