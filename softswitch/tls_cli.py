"""``softswitch tls self-signed``: a certificate and key for trying ``wss`` and HTTPS (the
browser phone needs a secure origin for the microphone).  A browser trusts it only once told
to (or with a certificate from a real authority in its place).  ECDSA P-256, SHA-256, with
the given host names and addresses as subject alternative names; the key written 0600; an
existing file is kept unless ``--force``."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def self_signed(names: list[str], days: int) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) naming ``names`` (host names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def cmd_self_signed(args: argparse.Namespace) -> int:
    cert_path, key_path = Path(args.cert), Path(args.key)
    for path in (cert_path, key_path):
        if path.exists() and not args.force:
            print(f"{path} exists: not replaced (--force replaces it)")
            return 1
    cert, key = self_signed(args.name or ["localhost", "127.0.0.1"], args.days)
    cert_path.write_bytes(cert)
    key_path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key)
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    print(f"wrote {cert_path} and {key_path} (0600), valid {args.days} days, for {', '.join(args.name or ['localhost', '127.0.0.1'])}")
    print("SHA-256 fingerprint: " + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)))
    print(f"config: server.tls: {{certificate: {cert_path}, private_key: {key_path}}} (wss, tls listeners) and "
          f"api.tls the same (https for /phone)")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tls = sub.add_parser("tls", help="certificates for wss and https")
    tls_sub = tls.add_subparsers(dest="tls_command", required=True)
    p = tls_sub.add_parser("self-signed", help="a self-signed certificate and key, for trying wss and the browser phone")
    p.add_argument("--cert", default="cert.pem")
    p.add_argument("--key", default="key.pem")
    p.add_argument("--name", action="append", help="a host name or IP address it is for (repeat; default localhost "
                   "and 127.0.0.1)")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.set_defaults(func=cmd_self_signed)
