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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import segno
from fastapi import FastAPI, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..config import Account, ConfigError, Extension
from ..ops import document
from ..ops import plans as plan_ops
from ..ops.devices import MODELS
from ..ops.login import login_info
from ..ops.service import Operations, Outcome
from ..ops.tree import NotFound
from ..ops.web_link import DEFAULT_VALID, link_secret, make_link
from ..provisioning import softphones
from ..provisioning.profile import provisioning_url
from ..store.calls_csv import when
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
        "history": "Call history", "audit": "Audit log", "started": "Started", "disposition": "Result",
        "billed": "Billed (s)", "path": "Path", "quality": "Quality (in/out/lost/jitter)", "recording": "Recording",
        "download": "Download", "when": "When", "actor": "Who", "action": "Action", "subject": "What",
        "before": "Before", "after": "After", "stop": "Stop", "new_password": "New password",
        "change_number": "Change number", "new_number": "New number", "done": "Done:", "actions": "Actions",
        "filter": "Filter", "limit": "At most", "people": "People and plans", "plans": "Plans", "email": "E-mail",
        "import": "Import plans (CSV)", "preview": "Preview", "apply": "Apply", "export": "Export CSV",
        "preview_title": "What the file would change (nothing written yet)", "applied": "Applied:",
        "csv_errors": "Problems in the file; nothing was changed:", "inactive": "Inactive (legacy plans only)",
        "file": "File", "counts": "Counters (as /metrics)", "add_person": "Add a person", "add": "Add",
        "department": "Department", "give_plan": "Give plan", "remove_plan": "Remove", "bans": "Banned sources", "source": "Source",
        "why": "Why", "left": "Left (s)", "dropped": "Dropped", "lift": "Lift", "lifted": "Ban lifted:",
        "web_link": "Browser phone link", "web_link_title": "Sign-in link for the browser phone (once, until {})",
        "phones": "Phones", "model": "Model", "lines": "Lines", "label": "Label", "park_keys": "park keys",
        "add_phone": "Provision a phone", "phone_added": "Type these into the phone's auto-provisioning page",
        "phones_asked": "Phones that asked and that no account has", "times": "Times",
        "qr": "QR code", "qr_title": "QR code for {}", "qr_once": "it opens once, until {}",
        "qr_secret": "it holds the password: hand it over as you would the password",
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
        "history": "Lịch sử cuộc gọi", "audit": "Nhật ký thay đổi", "started": "Bắt đầu", "disposition": "Kết quả",
        "billed": "Tính cước (giây)", "path": "Đường đi", "quality": "Chất lượng (vào/ra/mất/jitter)",
        "recording": "Ghi âm", "download": "Tải về", "when": "Lúc", "actor": "Người thực hiện", "action": "Thao tác",
        "subject": "Đối tượng", "before": "Trước", "after": "Sau", "stop": "Thu hồi", "new_password": "Mật khẩu mới",
        "change_number": "Đổi số", "new_number": "Số mới", "done": "Đã xong:", "actions": "Thao tác",
        "filter": "Lọc", "limit": "Tối đa", "people": "Nhân viên và gói cước", "plans": "Gói cước", "email": "E-mail",
        "import": "Nhập gói cước (CSV)", "preview": "Xem trước", "apply": "Áp dụng", "export": "Xuất CSV",
        "preview_title": "Tệp sẽ thay đổi (chưa ghi gì)", "applied": "Đã áp dụng:",
        "csv_errors": "Tệp có lỗi; không có gì thay đổi:", "inactive": "Ngừng hoạt động (chỉ còn gói cũ)",
        "file": "Tệp", "counts": "Bộ đếm (như /metrics)", "add_person": "Thêm nhân viên", "add": "Thêm",
        "department": "Phòng ban", "give_plan": "Cấp gói", "remove_plan": "Gỡ", "bans": "Nguồn bị chặn", "source": "Nguồn",
        "why": "Lý do", "left": "Còn lại (giây)", "dropped": "Đã bỏ", "lift": "Bỏ chặn", "lifted": "Đã bỏ chặn:",
        "web_link": "Liên kết điện thoại web", "web_link_title": "Liên kết đăng nhập điện thoại web (một lần, đến {})",
        "phones": "Điện thoại bàn", "model": "Dòng máy", "lines": "Máy nhánh", "label": "Tên", "park_keys": "phím đỗ",
        "add_phone": "Cấu hình tự động một điện thoại", "phone_added": "Nhập các thông tin này vào trang tự cấu hình của điện thoại",
        "phones_asked": "Điện thoại đã hỏi nhưng chưa thuộc tài khoản nào", "times": "Số lần",
        "qr": "Mã QR", "qr_title": "Mã QR cho {}", "qr_once": "chỉ mở được một lần, đến {}",
        "qr_secret": "mã chứa mật khẩu: hãy giao như giao mật khẩu",
    },
}

_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_templates.filters["when"] = when


def _lang(request: Request, lang: str | None) -> str:
    chosen = lang or request.cookies.get(LANG_COOKIE) or "en"
    return chosen if chosen in LABELS else "en"


async def attempt(change: Awaitable[Outcome]) -> tuple[Outcome | None, list[str]]:
    """An operation's outcome, or the problems it was refused with (and then nothing changed):
    a CSV's rows, the config's ``file:line: path: message``, or why it cannot be done."""
    try:
        return await change, []
    except plan_ops.CsvErrors as exc:
        return None, exc.errors
    except ConfigError as exc:
        return None, [str(p) for p in exc.problems]
    except (NotFound, ValueError) as exc:
        return None, [str(exc)]


def mount(app: FastAPI, ctx: ApiContext, authenticate: Callable[[str | None], Caller | None]) -> None:
    def page(request: Request, name: str, lang: str | None, **values: Any) -> HTMLResponse:
        language = _lang(request, lang)
        html = _templates.get_template(name).render(t=LABELS[language], lang=language, static="/static", **values)
        response = HTMLResponse(html, headers={"Cache-Control": "no-store"})
        if lang in LABELS:
            response.set_cookie(LANG_COOKIE, lang, samesite="strict")
        return response

    def operations(caller: Caller) -> Operations:
        return Operations(ctx.config_path, ctx.store, ctx.apply, caller.actor)

    def who(request: Request) -> Caller | None:
        token = request.cookies.get(COOKIE)
        return authenticate(f"Bearer {token}") if token else None

    def accounts(caller: Caller) -> list[str]:
        return [a.name for a in ctx.config().accounts if caller.may_see(a.name)]

    def chosen(caller: Caller, account: str | None) -> tuple[list[str], str | None, Account | None]:
        """The accounts the caller sees, and the one a page shows: the one asked for if the caller
        sees it, else the first."""
        seen = accounts(caller)
        name = account if account in seen else (seen[0] if seen else None)
        return seen, name, ctx.config().account(name) if name else None

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
        return page(request, "console_dashboard.html", lang, **_dashboard(caller, account))

    def _dashboard(caller: Caller, account: str | None, **more: Any) -> dict[str, Any]:
        seen = accounts(caller)
        snapshot = ctx.metrics() if ctx.metrics is not None else None
        registrations: dict[str, int] = {a: 0 for a in seen}
        ended: dict[str, int] = {}
        counts: dict[str, object] = {}
        if snapshot is not None:
            for (name, _transport), count in snapshot.registrations.items():
                if name in registrations:
                    registrations[name] += count
            if caller.account is None:  # the switch's own counters: the operator's
                ended = dict(snapshot.calls_ended)
                counts = {"relay_sessions": snapshot.relay_sessions, "relay_packets_in": snapshot.relay_packets.get("in", 0),
                          "relay_packets_out": snapshot.relay_packets.get("out", 0), "banned": snapshot.banned,
                          **{f"dropped_{k}": v for k, v in snapshot.dropped.items()},
                          **{f"shed_{k}": v for k, v in snapshot.calls_shed.items()}}
        operator = caller.account is None  # trunks and bans are the switch's, not an account's
        return {"caller": caller, "accounts": seen, "account": account, "registrations": registrations, "ended": ended,
                "counts": counts, "trunks": ctx.trunks() if operator else [], "bans": ctx.bans() if operator else None,
                "problems": [], "done": None, **live(caller, account), **more}

    @app.post("/console/bans/lift", response_class=HTMLResponse, include_in_schema=False)
    def lift_ban(request: Request, address: str = Form(..., max_length=100)) -> Response:
        """End a source's ban now, as ``softswitch bans --lift`` does (the operator's only)."""
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        problems: list[str] = []
        done = None
        if caller.account is not None or ctx.lift is None:
            problems = ["an operator's token is needed to lift a ban"]
        else:
            try:
                lifted = ctx.lift(address, caller.actor)
                done = f"{address} ({lifted['why']}, {lifted['dropped']} dropped)" if lifted["lifted"] else None
                problems = [] if done else [f"{address} is not banned"]
            except ValueError as exc:
                problems = [str(exc)]
        return page(request, "console_dashboard.html", None, **_dashboard(caller, None, problems=problems, done=done))

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
        seen, name, acc = chosen(caller, account)
        return {"caller": caller, "accounts": seen, "account": name, "extensions": acc.extensions if acc else [],
                "people": acc.people if acc else [], "problems": [], "granted": None, "done": None, "link": None,
                "qr": None, "apps": softphones.APPS, **more}

    async def hand_out(request: Request, caller: Caller, acc: Account, ext: Extension, action: str,
                       app: str) -> tuple[list[str], dict[str, Any] | None, dict[str, Any] | None]:
        """A way in for the extension's person, audited: the browser phone's sign-in link (the page
        at the address this console is reached by), or a softphone's QR code.  Problems, link, QR."""
        now, secret = time.time(), link_secret(ctx.config_path)
        until = time.strftime("%H:%M", time.localtime(now + DEFAULT_VALID))
        if action == "web-link":
            token = make_link(acc.name, ext, now, secret=secret)
            await operations(caller).note(acc.name, "web-link", f"extension {ext.number}")
            return [], {"url": f"{request.base_url}phone?domain={acc.domain}#link={token}", "until": until,
                        "number": ext.number}, None
        try:
            data = softphones.payload(app, ctx.config(), acc, ext, now, DEFAULT_VALID, secret)
        except ValueError as exc:
            return [str(exc)], None, None
        image = segno.make(data, error="m", micro=False).svg_data_uri(scale=5, border=4)
        await operations(caller).note(acc.name, "qr-code", f"extension {ext.number} ({app})")
        return [], None, {"app": app, "number": ext.number, "image": image, "until": until if app == "linphone" else None}

    @app.post("/console/extensions/{number}/{action}", response_class=HTMLResponse, include_in_schema=False)
    async def extension_action(request: Request, number: str, action: str, account: str = Form(...),
                               new_number: str = Form(""), app: str = Form("")) -> Response:
        """Stop an extension, give it a new password, renumber it, make its browser phone's link or
        a softphone's QR code: as the command line does."""
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        problems: list[str] = []
        granted, done, link, qr = None, None, None, None
        if account not in accounts(caller) or action not in ("stop", "password", "change", "web-link", "qr"):
            problems = [f"no account named {account!r}" if account not in accounts(caller) else f"no action {action!r}"]
        elif action in ("web-link", "qr"):
            acc = ctx.config().account(account)
            ext = acc.extension(number) if acc is not None else None
            if acc is None or ext is None:
                problems = [f"no extension {number!r} in account {account!r}"]
            else:
                problems, link, qr = await hand_out(request, caller, acc, ext, action, app)
        else:
            o = operations(caller)
            outcome, problems = await attempt(o.stop(account, number) if action == "stop" else
                                              o.set_password(account, number) if action == "password" else
                                              o.change_number(account, number, new_number.strip()))
            if outcome is not None:
                done = f"{outcome.change.action} {outcome.change.subject}: {outcome.applied}"
                acc = outcome.config.account(account)
                shown = new_number.strip() if action == "change" else number
                ext = acc.extension(shown) if acc is not None and action != "stop" else None
                if acc is not None and ext is not None:
                    granted = login_info(outcome.config, acc, ext,
                                         password=outcome.change.secret if action == "password" else None)
        return page(request, "console_extensions.html", None,
                    **_extensions(caller, account, problems=problems, granted=granted, done=done, link=link, qr=qr))

    @app.get("/console/calls", response_class=HTMLResponse, include_in_schema=False)
    async def history(request: Request, account: str | None = None, person: str | None = None,
                      limit: int = Query(200, ge=1, le=5000), lang: str | None = None) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        seen, name, _ = chosen(caller, account)
        rows = [r.as_row() for r in await ctx.store.list_calls(name, None, None, limit, person or None)] if name else []
        rows.reverse()  # newest first
        return page(request, "console_calls.html", lang, caller=caller, accounts=seen, account=name, rows=rows,
                    person=person or "", limit=limit)

    @app.get("/console/recordings/{call_id}", include_in_schema=False)
    async def recording(request: Request, call_id: str) -> Response:
        """A call's recording for the console's player (Range requests answered: seeking works)."""
        caller = who(request)
        row = await ctx.store.get_call(call_id) if caller is not None else None
        if caller is None or row is None or not caller.may_see(row.account) or row.recording is None \
                or row.recording.deleted is not None:
            return Response(status_code=404)
        return FileResponse(row.recording.path, media_type="audio/wav", filename=f"{call_id}.wav")

    def _people(caller: Caller, account: str | None, **more: Any) -> dict[str, Any]:
        seen, name, acc = chosen(caller, account)
        numbers: dict[str, list[str]] = {}
        for ext in acc.extensions if acc else []:
            if ext.person:
                numbers.setdefault(ext.person, []).append(ext.number)
        inactive = [r for r in plan_ops.inactive(document.read(ctx.config_path).tree, name)] if name else []
        return {"caller": caller, "accounts": seen, "account": name, "people": acc.people if acc else [],
                "numbers": numbers, "inactive": inactive, "errors": [], "problems": [], "changes": None, "applied": None,
                "plans": [plan.name for plan in ctx.config().plans], **more}

    @app.get("/console/people", response_class=HTMLResponse, include_in_schema=False)
    def people(request: Request, account: str | None = None, lang: str | None = None) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        return page(request, "console_people.html", lang, **_people(caller, account))

    @app.get("/console/people/export", include_in_schema=False)
    def people_export(request: Request, account: str) -> Response:
        caller = who(request)
        if caller is None or account not in accounts(caller):
            return Response(status_code=404)
        data = plan_ops.export_csv(document.read(ctx.config_path).tree, account)
        return Response(data, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{account}-plans.csv"'})

    @app.post("/console/people/import", response_class=HTMLResponse, include_in_schema=False)
    async def people_import(request: Request, file: UploadFile, account: str = Form(...), apply: str = Form("")) -> Response:
        """A plans CSV: previewed (a dry run: the changes it would make, or every problem in it),
        then applied as the command line's ``plans import`` does."""
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        if account not in accounts(caller):
            return page(request, "console_people.html", None, **_people(caller, account, errors=[f"no account named {account!r}"]))
        data = (await file.read(2_000_000)).decode("utf-8-sig", "replace")
        outcome, errors = await attempt(operations(caller).import_plans(account, data, dry_run=not apply))
        if outcome is None:
            return page(request, "console_people.html", None, **_people(caller, account, errors=errors))
        return page(request, "console_people.html", None, **_people(
            caller, account, changes=outcome.changes, applied=outcome.applied if apply else None))

    @app.post("/console/people", response_class=HTMLResponse, include_in_schema=False)
    async def add_person(request: Request, account: str = Form(...), ident: str = Form(..., max_length=64),
                         name: str = Form(..., max_length=200), email: str = Form("", max_length=254),
                         department: str = Form("", max_length=200)) -> Response:
        """A new person, as ``softswitch people add`` does."""
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        values = {k: v.strip() for k, v in (("name", name), ("email", email), ("department", department)) if v.strip()}
        return await _people_change(request, caller, account,
                                    lambda o: o.add_person(account, ident.strip(), values))

    @app.post("/console/people/{ident}/plans", response_class=HTMLResponse, include_in_schema=False)
    async def person_plan(request: Request, ident: str, account: str = Form(...), plan: str = Form(..., max_length=100),
                          remove: str = Form("")) -> Response:
        """Give a person a plan, or take one away, as ``softswitch plans assign|remove`` do."""
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        return await _people_change(request, caller, account, lambda o: (
            o.remove_plan(account, plan, [ident]) if remove else o.assign_plan(account, plan, [ident])))

    async def _people_change(request: Request, caller: Caller, account: str,
                             change: Callable[[Operations], Awaitable[Outcome]]) -> Response:
        if account not in accounts(caller):
            return page(request, "console_people.html", None, **_people(caller, account, problems=[f"no account named {account!r}"]))
        outcome, problems = await attempt(change(operations(caller)))
        done = "; ".join(f"{c.action} {c.subject}" for c in outcome.changes) + f": {outcome.applied}" if outcome else None
        return page(request, "console_people.html", None, **_people(caller, account, problems=problems, applied=done))

    def _phones(caller: Caller, account: str | None, **more: Any) -> dict[str, Any]:
        seen, name, acc = chosen(caller, account)
        return {"caller": caller, "accounts": seen, "account": name, "devices": acc.devices if acc else [],
                "models": MODELS, "asked": ctx.phones_asked() if caller.account is None else None,
                "problems": [], "done": None, "added": None, **more}

    @app.get("/console/phones", response_class=HTMLResponse, include_in_schema=False)
    def phones(request: Request, account: str | None = None, lang: str | None = None) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        return page(request, "console_phones.html", lang, **_phones(caller, account))

    @app.post("/console/phones", response_class=HTMLResponse, include_in_schema=False)
    async def add_phone(request: Request, account: str = Form(...), mac: str = Form(..., max_length=17),
                        model: str = Form(...), lines: str = Form(..., max_length=200), blf: str = Form("", max_length=600),
                        label: str = Form("", max_length=60)) -> Response:
        """Provision a phone, as ``softswitch phones add``: what to type into it, shown once."""
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        if account not in accounts(caller):
            return page(request, "console_phones.html", None, **_phones(caller, account, problems=[f"no account named {account!r}"]))
        numbers = [n.strip() for n in lines.split(",") if n.strip()]
        watched = [n.strip() for n in blf.split(",") if n.strip()]
        outcome, problems = await attempt(operations(caller).add_device(account, mac, model, numbers, None, watched, None,
                                                                       label.strip() or None))
        added = None
        if outcome is not None:
            change = outcome.change
            try:
                url = provisioning_url(outcome.config) + "/"
            except ValueError as exc:
                url = f"({exc})"
            added = [("Provisioning URL", url), ("User name", str((change.after or {}).get("mac", ""))),
                     ("Password", change.secret or "")]
        return page(request, "console_phones.html", None, **_phones(caller, account, problems=problems, added=added))

    @app.post("/console/phones/{mac}/remove", response_class=HTMLResponse, include_in_schema=False)
    async def remove_phone(request: Request, mac: str, account: str = Form(...)) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        if account not in accounts(caller):
            return page(request, "console_phones.html", None, **_phones(caller, account, problems=[f"no account named {account!r}"]))
        outcome, problems = await attempt(operations(caller).remove_device(account, mac))
        done = f"{outcome.change.action} {outcome.change.subject}: {outcome.applied}" if outcome is not None else None
        return page(request, "console_phones.html", None, **_phones(caller, account, problems=problems, done=done))

    @app.get("/console/audit", response_class=HTMLResponse, include_in_schema=False)
    async def audit(request: Request, account: str | None = None, lang: str | None = None) -> Response:
        caller = who(request)
        if caller is None:
            return RedirectResponse("/console/login", status_code=303)
        seen = accounts(caller)
        name = account if account in seen else (caller.account or None)
        rows = [r.as_dict() for r in await ctx.store.list_audit(name, None, 500)]
        rows.reverse()
        return page(request, "console_audit.html", lang, caller=caller, accounts=seen, account=name, rows=rows)

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
            outcome, problems = await attempt(operations(caller).grant(account, number.strip(), person.strip(), settings))
            if outcome is not None:
                config = outcome.config
                acc = config.account(account)
                ext = acc.extension(number.strip()) if acc else None
                if acc is not None and ext is not None:
                    granted = login_info(config, acc, ext, password=ext.password)
        return page(request, "console_extensions.html", None,
                    **_extensions(caller, account, problems=problems, granted=granted))
