"""Text messages to the members of external groups (SPEC "Groups"): the two texts, word for
word, and the HTTP webhook provider that sends them.

The texts name the original caller and, for a missed call, the time it came in on the
account's clock (``19:09 19/09/2019``).  The webhook's URL and body are templates with
``{to}``, ``{text}`` and ``{brand}``; each value is escaped for where it stands: URL-encoded
in the URL, JSON-escaped in a JSON body, form-encoded in a form body.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from .config.schema import SmsWebhook

if TYPE_CHECKING:  # imported when a provider is configured: most switches never text
    import httpx

log = logging.getLogger(__name__)

MISSED = "({brand}) Ban da bi nho 1 cuoc goi tu so {caller} vao luc {time}. Vui long kiem tra va lien he lai"
ANSWERED = "({brand}) Ban vua nhan cuoc goi tu so {caller}."


def missed(brand: str, caller: str, when: datetime) -> str:
    return MISSED.format(brand=brand, caller=caller, time=when.strftime("%H:%M %d/%m/%Y"))


def answered(brand: str, caller: str) -> str:
    return ANSWERED.format(brand=brand, caller=caller)


def render(template: str, values: dict[str, str], escape: str) -> str:
    """``template`` with each ``{name}`` replaced by its value, escaped as ``escape`` says
    (``url``, ``json``, ``form`` or ``none``).  Other braces (a JSON body's) stay as they are."""
    out = template
    for name, value in values.items():
        if escape == "url":
            value = quote(value, safe="")
        elif escape == "json":
            value = json.dumps(value, ensure_ascii=False)[1:-1]
        elif escape == "form":
            value = quote_plus(value)
        out = out.replace("{" + name + "}", value)
    return out


def body_escape(content_type: str) -> str:
    kind = content_type.partition(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return "json"
    if kind == "application/x-www-form-urlencoded":
        return "form"
    return "none"


class SmsError(Exception):
    pass


class WebhookSms:
    """Sends each text as one HTTP request; a status other than 2xx is a failure."""

    def __init__(self, settings: SmsWebhook, transport: httpx.AsyncBaseTransport | None = None) -> None:
        import httpx

        self.settings = settings
        self.client = httpx.AsyncClient(timeout=settings.timeout, transport=transport)
        self._errors = httpx.HTTPError

    async def send(self, to: str, text: str, brand: str) -> None:
        values = {"to": to, "text": text, "brand": brand}
        cfg = self.settings
        url = render(cfg.url, values, "url")
        body = render(cfg.body, values, body_escape(cfg.content_type)) if cfg.method != "GET" else None
        headers = {**cfg.headers, **({"Content-Type": cfg.content_type} if body is not None else {})}
        try:
            response = await self.client.request(cfg.method, url, content=body.encode() if body is not None else None,
                                                 headers=headers)
        except self._errors as exc:
            raise SmsError(f"{cfg.method} {url}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise SmsError(f"{cfg.method} {url}: HTTP {response.status_code} {response.text[:200]!r}")

    async def close(self) -> None:
        await self.client.aclose()
