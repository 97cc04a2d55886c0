"""Key presses inside a call (pure): the key a SIP INFO carries, and the keys each leg typed,
so that a feature code (the park code, ``*85``) typed during a call is recognised.

Keys come two ways: RFC 4733 telephone-events in the RTP (read by the media relay) and
SIP INFO (the older way many desk phones still offer): ``application/dtmf-relay``
(``Signal=5``, with ``Duration=``) or ``application/dtmf`` (the key alone).  Some phones
name ``*`` and ``#`` by their event codes, 10 and 11.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..media.relay import KEYS
from ..sip.message import Request

INTER_KEY = 3.0  # seconds: a longer pause starts a new sequence


def info_key(request: Request) -> str | None:
    """The key an INFO request carries, or None (another body, or no key)."""
    ctype = (request.get("Content-Type") or "").partition(";")[0].strip().lower()
    body = request.body.decode("ascii", "replace")
    if ctype == "application/dtmf-relay":
        for line in body.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                return _key(value)
        return None
    if ctype == "application/dtmf":
        return _key(body)
    return None


def _key(text: str) -> str | None:
    text = text.strip().upper()
    if len(text) == 1 and text in KEYS:
        return text
    if text.isdigit() and 10 <= int(text) <= 15:
        return KEYS[int(text)]
    return None


@dataclass
class Typed:
    """The last keys one leg typed, each within ``INTER_KEY`` of the one before."""

    keys: str = ""
    last: float | None = None

    def add(self, key: str, now: float, keep: int) -> str:
        if self.last is None or now - self.last > INTER_KEY:
            self.keys = ""
        self.keys = (self.keys + key)[-keep:]
        self.last = now
        return self.keys

    def clear(self) -> None:
        self.keys, self.last = "", None
