"""Short-lived sign-in links: the browser phone's (``softswitch extensions web-link``) and a
Linphone QR code's provisioning URL (``softswitch extensions qr``).

A link carries its account, extension and expiry, signed with an HMAC whose key comes from the
switch's link secret (a file beside the config, made by whichever of the command line or the
switch needs it first) and the extension's own password: the switch checks it against the
config it runs, a new password (or a stopped extension) voids every link made before, and a
link seen in a chat's history tells nothing about the password (without the secret, no guess
can be checked).  Each link names its purpose: a browser phone's link does not open Linphone's
URL, nor the reverse.  A link is used once (``Redeemed``, in the process's memory until the link
would have expired anyway: a restart forgets which were used, so links are short-lived).
Opening one gives its user the extension's SIP credentials, as a QR code for a softphone does."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, Extension
from .login import reachable

DEFAULT_VALID = 15 * 60  # seconds
MAX_VALID = 7 * 24 * 3600
_CONTEXT = b"softswitch link v2:"
PHONE, LINPHONE = "phone", "linphone"  # what a link opens


def link_secret(config_path: Path) -> bytes:
    """The switch's link secret: ``<config>.links-secret`` beside the config (the command line
    and the switch share the config's folder), made on first use, readable by its owner only."""
    path = config_path.with_name(config_path.name + ".links-secret")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, password: str, purpose: str, payload: str) -> bytes:
    key = hmac.new(secret, password.encode(), hashlib.sha256).digest()
    return _b64(hmac.new(key, _CONTEXT + purpose.encode() + b":" + payload.encode(), hashlib.sha256).digest()[:18]).encode()


def make_link(account: str, extension: Extension, now: float, valid: float = DEFAULT_VALID, *, secret: bytes,
              purpose: str = PHONE) -> str:
    """A token for ``extension`` of ``account`` that opens ``purpose`` until ``now + valid``."""
    if not 0 < valid <= MAX_VALID:
        raise ValueError(f"a link is valid for 1 s to {MAX_VALID // 86400} days, not {valid:g} s")
    payload = _b64(json.dumps([account, extension.number, int(now + valid), secrets.token_hex(6)],
                              separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, extension.password, purpose, payload).decode()}"


def phone_url(config: Config) -> str:
    """Where phones' browsers find the page: the admin API's web server, at an address they can reach."""
    if config.api is None:
        raise ValueError("the browser phone is served by the API's web server: set 'api' in the config")
    host = config.server.advertised_address or reachable(config.api.address)
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if config.api.tls else 'http'}://{host}:{config.api.port}/phone"


@dataclass(frozen=True)
class Opened:
    account: str
    domain: str
    number: str
    password: str
    expires: int


def open_link(config: Config, token: str, now: float, *, secret: bytes, purpose: str = PHONE) -> Opened | str:
    """What a link opens, or why it does not (a sentence for the page)."""
    payload, _, mac = token.partition(".")
    try:
        account_name, number, expires, _nonce = json.loads(_unb64(payload))
        expires = int(expires)
    except (ValueError, TypeError, binascii.Error):
        return "This link is not valid."
    account = config.account(str(account_name))
    extension = account.extension(str(number)) if account else None
    if account is None or extension is None or not hmac.compare_digest(
            mac.encode("utf-8", "surrogateescape"), _mac(secret, extension.password, purpose, payload)):
        return "This link is not valid (the extension's password may have changed since)."
    if now >= expires:
        return "This link has expired."
    return Opened(account.name, account.domain, extension.number, extension.password, expires)


@dataclass
class Redeemed:
    """Links already used, until their expiry: a link opens the page once."""

    _until: dict[str, float] = field(default_factory=dict)

    def first_use(self, token: str, expires: float, now: float) -> bool:
        for old in [t for t, until in self._until.items() if until <= now]:
            del self._until[old]
        key = hashlib.sha256(token.encode()).hexdigest()
        if key in self._until:
            return False
        self._until[key] = expires
        return True
