"""The operator's web console (issue 16, "Web console"), on the admin API's web server.

Server-rendered pages (Jinja2) over the same objects the API and the command line use: an
operator signs in with an API token (``softswitch api token``), kept in an HttpOnly,
SameSite=Strict cookie, and sees every account, or only its own with an account's token.  The
dashboard's live part (calls in progress with their RTP counters, the park lot) is sent as
server-sent events that htmx (vendored) swaps in, once a second; changes go through
``Operations`` with the same rules and the same ``file:line: path: message`` problems as the
command line, and change nothing on error.  Labels in English or Vietnamese (``?lang=vi``,
remembered in a cookie).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..config import ConfigError
from ..ops.login import login_info
from ..ops.service import Operations
from ..ops.tree import NotFound
from . import TEMPLATES

if TYPE_CHECKING:
    from ..api.app import ApiContext
    from ..api.auth import Caller

COOKIE, LANG_COOKIE = "softswitch_console", "softswitch_lang"
LIVE_EVERY = 1.0  # seconds between the dashboard's live updates
LIVE_FOR = 3600  # updates in one stream at most (the page reconnects)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "console": "Console", "dashboard": "Dashboard", "extensions": "Extensions", "sign_in": "Sign in",
        "sign_out": "Sign out", "token": "API token", "bad_token": "That token is not valid.", "account": "Account",
        "registrations": "Registrations", "live_calls": "Calls in progress", "none": "None", "caller": "Caller",
        "callee": "Callee", "state": "State", "legs": "RTP in/out/lost/jitter", "since": "Since", "parked": "Park lot",
        "trunks": "Trunks", "ended_calls": "Ended calls", "number": "Number", "alias": "Alias", "person": "Person",
        "permission": "Call permission", "grant": "Grant", "grant_title": "Grant an extension", "login_info": "Login information",
        "problems": "Nothing was changed:", "devices": "Devices", "language": "Tiếng Việt", "status": "Status",
    },
    "vi": {
        "console": "Bảng điều khiển", "dashboard": "Tổng quan", "extensions": "Máy nhánh", "sign_in": "Đăng nhập",
        "sign_out": "Đăng xuất", "token": "Mã API", "bad_token": "Mã này không hợp lệ.", "account": "Tài khoản",
        "registrations": "Đăng ký", "live_calls": "Cuộc gọi đang diễn ra", "none": "Không có", "caller": "Người gọi",
        "callee": "Người nhận", "state": "Trạng thái", "legs": "RTP vào/ra/mất/jitter", "since": "Từ lúc",
        "parked": "Bãi giữ cuộc gọi", "trunks": "Trung kế", "ended_calls": "Cuộc gọi đã kết thúc", "number": "Số",
        "alias": "Bí danh", "person": "Nhân viên", "permission": "Quyền gọi", "grant": "Cấp",
        "grant_title": "Cấp máy nhánh", "login_info": "Thông tin đăng nhập", "problems": "Không có gì thay đổi:",
        "devices": "Thiết bị", "language": "English", "status": "Trạng thái",
    },
}

_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _lang(request: Request, lang: str | None) -> str:
    chosen = lang or request.cookies.get(LANG_COOKIE) or "en"
    return chosen if chosen in LABELS else "en"


def mount(app: FastAPI, ctx: ApiContext, authenticate: Callable[[str | None], Caller | None]) -> None:
    def page(request: Request, name: str, lang: str | None, **values: Any) -> HTMLResponse:
        language = _lang(request, lang)
        html = _templates.get_template(name).render(t=LABELS[language], lang=language, static="/static", **values)
        response = HTMLResponse(html, headers={"Cache-Control": "no-store"})
        if lang in LABELS:
            response.set_cookie(LANG_COOKIE, lang, samesite="strict")
        return response

    def who(request: Request) -> Caller | None:
        token = request.cookies.get(COOKIE)
        return authenticate(f"Bearer {token}") if token else None

    def accounts(caller: Caller) -> list[str]:
        return [a.name for a in ctx.config().accounts if caller.may_see(a.name)]

    @app.get("/console/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, lang: str | None = None) -> HTMLResponse:
        return page(request, "console_login.html", lang, failed=False)

    @app.post("/console/login", include_in_schema=False)
    def login(request: Request, token: str = Form(..., max_length=200)) -> Response:
        if authenticate(f"Bearer {token.strip()}") is None:
            return page(request, "console_login.html", None, failed=True)
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.get("/console/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def live(caller: Caller, account: str | None) -> dict[str, Any]:
        seen = [a for a in accounts(caller) if account in (None, a)]
        calls = [c for c in ctx.live_calls() if c.get("account") in seen]
        now = time.time()
        for call in calls:
            call["for"] = f"{max(0, int(now - (call.get('answered') or call.get('started') or now)))} s"
        return {"calls": [c for c in calls if c["state"] != "parked"], "parked": [c for c in calls if c["state"] == "parked"]}

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request, lang: str | None = None, account: str | None = None) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        seen = accounts(caller)
        snapshot = ctx.metrics() if ctx.metrics is not None else None
        registrations: dict[str, int] = {a: 0 for a in seen}
        ended: dict[str, int] = {}
        if snapshot is not None:
            for (name, _transport), count in snapshot.registrations.items():
                if name in registrations:
                    registrations[name] += count
            ended = dict(snapshot.calls_ended) if caller.account is None else {}
        trunks = ctx.trunks() if caller.account is None else []
        return page(request, "console_dashboard.html", lang, caller=caller, accounts=seen, account=account,
                    registrations=registrations, ended=ended, trunks=trunks, **live(caller, account))

    @app.get("/console/live", include_in_schema=False)
    async def live_stream(request: Request, account: str | None = None, lang: str | None = None) -> Response:
        caller = who(request)
        if caller is None:
            return Response(status_code=401)
        language = _lang(request, lang)
        fragment = _templates.get_template("console_live.html")

        async def events() -> AsyncIterator[str]:
            for _ in range(LIVE_FOR):
                html = fragment.render(t=LABELS[language], **live(caller, account))
                yield "event: live\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
                await asyncio.sleep(LIVE_EVERY)
                if await request.is_disconnected():
                    return

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.get("/console/extensions", response_class=HTMLResponse, include_in_schema=False)
    def extensions(request: Request, account: str | None = None, lang: str | None = None) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        return page(request, "console_extensions.html", lang, **_extensions(caller, account))

    def _extensions(caller: Caller, account: str | None, **more: Any) -> dict[str, Any]:
        seen = accounts(caller)
        name = account if account in seen else (seen[0] if seen else None)
        acc = ctx.config().account(name) if name else None
        return {"caller": caller, "accounts": seen, "account": name, "extensions": acc.extensions if acc else [],
                "people": acc.people if acc else [], "problems": [], "granted": None, **more}

    @app.post("/console/extensions", response_class=HTMLResponse, include_in_schema=False)
    async def grant(request: Request, account: str = Form(...), number: str = Form(...), person: str = Form(...),
                    alias: str = Form(""), call_permission: str = Form("")) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        problems: list[str] = []
        granted = None
        if account not in accounts(caller):
            problems = [f"no account named {account!r}"]
        else:
            settings = {k: v for k, v in (("alias", alias.strip()), ("call_permission", call_permission.strip())) if v}
            ops = Operations(ctx.config_path, ctx.store, ctx.apply, caller.actor)
            try:
                outcome = await ops.grant(account, number.strip(), person.strip(), settings)
            except ConfigError as exc:
                problems = [str(p) for p in exc.problems]
            except (NotFound, ValueError) as exc:
                problems = [str(exc)]
            else:
                config = outcome.config
                acc = config.account(account)
                ext = acc.extension(number.strip()) if acc else None
                if acc is not None and ext is not None:
                    granted = login_info(config, acc, ext, password=ext.password)
        return page(request, "console_extensions.html", None,
                    **_extensions(caller, account, problems=problems, granted=granted))
