"""Short-lived sign-in links for the browser phone (``softswitch extensions web-link``).

A link carries its account, extension and expiry, signed with an HMAC keyed by the extension's
own password: the switch checks it against the config it runs, so no store or shared secret is
needed, and a new password (or a stopped extension) voids every link made before. A link is
used once (``Redeemed``, in the switch's memory until the link would have expired anyway).
Opening one gives the page the extension's SIP credentials, as a QR code for a softphone does."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field

from ..config import Config, Extension
from .login import reachable

DEFAULT_VALID = 15 * 60  # seconds
MAX_VALID = 7 * 24 * 3600
_CONTEXT = b"softswitch web-link v1:"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(password: str, payload: str) -> str:
    return _b64(hmac.new(password.encode(), _CONTEXT + payload.encode(), hashlib.sha256).digest()[:18])


def make_link(account: str, extension: Extension, now: float, valid: float = DEFAULT_VALID) -> str:
    """A token for ``extension`` of ``account`` that opens the page until ``now + valid``."""
    if not 0 < valid <= MAX_VALID:
        raise ValueError(f"a link is valid for 1 s to {MAX_VALID // 86400} days, not {valid:g} s")
    payload = _b64(json.dumps([account, extension.number, int(now + valid), secrets.token_hex(6)],
                              separators=(",", ":")).encode())
    return f"{payload}.{_mac(extension.password, payload)}"


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


def open_link(config: Config, token: str, now: float) -> Opened | str:
    """What a link opens, or why it does not (a sentence for the page)."""
    payload, _, mac = token.partition(".")
    try:
        account_name, number, expires, _nonce = json.loads(_unb64(payload))
        expires = int(expires)
    except (ValueError, TypeError, binascii.Error):
        return "This link is not valid."
    account = config.account(str(account_name))
    extension = account.extension(str(number)) if account else None
    if account is None or extension is None or not hmac.compare_digest(mac, _mac(extension.password, payload)):
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
