"""Bearer tokens of the admin API: the config keeps their SHA-256, never the token.

An operator token (no ``account``) sees and changes everything; an account token only its own
account, and another account's resources answer ``404`` as if they did not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol


class TokenLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def account(self) -> str | None: ...


@dataclass(frozen=True)
class Caller:
    name: str
    account: str | None  # None: the operator

    def may_see(self, account: str) -> bool:
        return self.account is None or self.account == account

    @property
    def actor(self) -> str:
        return f"{self.name} (API" + (f", account {self.account})" if self.account else ")")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "ss_" + secrets.token_urlsafe(32)


def authenticate(header: str | None, tokens: list[TokenLike]) -> Caller | None:
    """The caller an ``Authorization: Bearer …`` header names, or None."""
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    seen = digest(token.strip())
    found = None
    for t in tokens:  # every one compared, in constant time: the answer's timing says nothing
        if hmac.compare_digest(seen, t.sha256.lower()):
            found = t
    return Caller(found.name, found.account) if found is not None else None
