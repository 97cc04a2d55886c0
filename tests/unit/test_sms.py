"""The SPEC's two texts, word for word, and the webhook's templates escaped for where each value
stands (the provider is an httpx mock transport here; the e2e test uses a real HTTP server)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from softswitch.config.schema import SmsWebhook
from softswitch.sms import SmsError, WebhookSms, answered, missed, render


def test_the_two_texts_are_the_specs() -> None:
    when = datetime(2019, 9, 19, 19, 9, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert missed("ACME", "0909789846", when) == (
        "(ACME) Ban da bi nho 1 cuoc goi tu so 0909789846 vao luc 19:09 19/09/2019. Vui long kiem tra va lien he lai")
    assert answered("ACME", "0909789846") == "(ACME) Ban vua nhan cuoc goi tu so 0909789846."


def test_templates_escape_each_value_for_its_place() -> None:
    values = {"to": "+84 909", "text": 'say "hi" & bye', "brand": "A&B"}
    assert render("https://sms.example/send?to={to}&msg={text}", values, "url") == (
        "https://sms.example/send?to=%2B84%20909&msg=say%20%22hi%22%20%26%20bye")
    body = render('{"to": "{to}", "text": "{text}", "from": "{brand}"}', values, "json")
    assert json.loads(body) == {"to": "+84 909", "text": 'say "hi" & bye', "from": "A&B"}
    assert render("to={to}&text={text}", values, "form") == "to=%2B84+909&text=say+%22hi%22+%26+bye"


def test_the_webhook_sends_one_request_and_a_non_2xx_is_a_failure() -> None:
    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200 if b"0909000001" in request.content else 503, text="busy")

    settings = SmsWebhook(url="http://sms.example/api", headers={"X-Key": "k1"})

    async def run() -> None:
        sender = WebhookSms(settings, transport=httpx.MockTransport(provider))
        await sender.send("0909000001", "hello", "ACME")
        with pytest.raises(SmsError, match="HTTP 503"):
            await sender.send("0909000002", "hello", "ACME")
        await sender.close()

    asyncio.run(run())
    first = seen[0]
    assert (first.method, str(first.url), first.headers["X-Key"], first.headers["Content-Type"]) == (
        "POST", "http://sms.example/api", "k1", "application/json")
    assert json.loads(first.content) == {"to": "0909000001", "text": "hello"}
