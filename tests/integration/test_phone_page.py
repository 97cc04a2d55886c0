"""The browser phone's page over HTTP (httpx against the ASGI app and a real config file): its
labels in English or Vietnamese, chosen by the browser or the person, and sign-in links from
``softswitch extensions web-link`` traded once for the extension's credentials."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from .commands import run
from .test_api import ACME, auth, client

__all__ = ["client"]


async def test_the_page_speaks_english_or_vietnamese(client: Any) -> None:
    c, *_ = client
    page = await c.get("/phone?domain=acme.example")
    assert page.status_code == 200 and '<html lang="en">' in page.text and ">Sign in<" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert '"park_code": "*85"' in page.text and '"ready": "Ready"' in page.text

    by_browser = await c.get("/phone", headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"})
    assert '<html lang="vi">' in by_browser.text and ">Đăng nhập<" in by_browser.text

    chosen = await c.get("/phone?lang=vi")
    assert chosen.cookies.get("softswitch_lang") == "vi" and ">Gác máy<" in chosen.text
    kept = await c.get("/phone")  # the choice stays with the browser (the client keeps the cookie)
    assert '<html lang="vi">' in kept.text
    back = await c.get("/phone?lang=en", headers={"Accept-Language": "vi"})
    assert '<html lang="en">' in back.text


async def test_a_web_link_signs_in_once(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    c, path, _, store = client
    # (the command opens the store for its audit row: out of this test's event loop)
    code, out, err = await asyncio.to_thread(run, capsys, "extensions", "web-link", "101", "--account", "acme",
                                             "--valid", "10m", "--config", str(path))
    assert code == 0, err
    url = urlsplit(out.strip())
    assert (url.scheme, url.port, url.path, url.query) == ("http", 8088, "/phone", "domain=acme.example"), out
    token = re.fullmatch(r"link=(\S+)", url.fragment)[1]  # type: ignore[index]
    assert "once" in err and "a new password voids it" in err
    (audited,) = [r for r in await store.list_audit("acme") if r.action == "web-link"]
    assert audited.subject == "extension 101" and "command line" in audited.actor  # who handed out a way in

    opened = await c.post("/phone/link", json={"token": token})
    assert opened.status_code == 200, opened.text
    assert opened.json() == {"number": "101", "domain": "acme.example", "password": "acme-101-secret", "park_code": "*85"}
    again = await c.post("/phone/link", json={"token": token})
    assert again.status_code == 403 and "used already" in again.json()["error"]

    code, out, _ = await asyncio.to_thread(run, capsys, "extensions", "web-link", "102", "--account", "acme",
                                           "--config", str(path))
    fresh = out.strip().split("#link=")[1]
    changed = await c.post("/api/accounts/acme/extensions/102/password", json={}, headers=auth(ACME))
    assert changed.status_code == 200, changed.text  # a new password voids the link
    void = await c.post("/phone/link", json={"token": fresh})
    assert void.status_code == 403 and "password may have changed" in void.json()["error"]
    assert (await c.post("/phone/link", json={"token": "x" * 401})).status_code == 422


def test_a_web_link_needs_the_extension_and_a_sane_length(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "extensions", "web-link", "199", "--account", "acme", "--config", "config/example.yaml")
    assert code == 1 and "no extension '199'" in err
    with pytest.raises(SystemExit):
        run(capsys, "extensions", "web-link", "101", "--account", "acme", "--valid", "soon")
    assert "use a length like 90s" in capsys.readouterr().err
    code, _, err = run(capsys, "extensions", "web-link", "101", "--account", "acme", "--config", "config/example.yaml")
    assert code == 1 and "set 'api'" in err
