"""The pages the switch serves to browsers, on the admin API's web server: ``/phone`` (the
browser phone: one extension, signed in with its own SIP credentials, which only the switch's
SIP digest checks) and ``/static`` (its script, style and the vendored JsSIP)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..config import Config
from . import JSSIP, STATIC, TEMPLATES

_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def phone_settings(config: Config, domain: str) -> dict[str, object]:
    """What the page needs of the switch: its WebSocket ports (the page's own host is the
    switch's) and the park code of the account the domain names (else the default)."""
    ports = {spec.transport: spec.port for spec in reversed(config.server.listen)}
    account = next((a for a in config.accounts if a.domain.lower() == domain.lower()), None) if domain else None
    return {"ws": ports.get("ws"), "wss": ports.get("wss"), "park_code": account.park.code if account else "*85"}


def mount(app: FastAPI, config: Callable[[], Config]) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/phone", response_class=HTMLResponse, include_in_schema=False)
    def phone(domain: str = Query("", max_length=253)) -> HTMLResponse:
        html = _templates.get_template("phone.html").render(
            static="/static", jssip=JSSIP.name, domain=domain, config=phone_settings(config(), domain))
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})
