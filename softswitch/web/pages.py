"""The pages the switch serves to browsers, on the admin API's web server: ``/phone`` (the
browser phone: one extension, signed in with its own SIP credentials, which only the switch's
SIP digest checks, or with a short-lived link from ``softswitch extensions web-link``) and
``/static`` (its script, style and the vendored JsSIP)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from ..config import Config
from ..ops.web_link import PHONE, Opened, Redeemed, open_link
from . import JSSIP, STATIC, TEMPLATES

LANG_COOKIE = "softswitch_lang"  # shared with the console: one choice per browser

# The page's words; ``{}`` is where a number or a reason goes (phone.js fills it in).
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Phone", "intro": "Sign in with your extension.", "extension": "Extension", "domain": "Domain",
        "password": "Password", "sign_in": "Sign in", "number": "Number", "call": "Call", "keypad": "Keypad",
        "accept": "Accept", "reject": "Reject", "hangup": "Hang up", "hold": "Hold", "resume": "Resume",
        "mute": "Mute", "unmute": "Unmute", "park": "Park", "transfer_to": "Transfer to", "transfer": "Transfer",
        "calls": "Calls", "sign_out": "Sign out", "processing": "Clean up my microphone (echo, noise, level)",
        "language": "Tiếng Việt", "ready": "Ready", "signing_in": "Signing in", "sign_in_failed": "Sign-in failed: {}",
        "connection_lost": "Connection lost; trying again", "call_from": "Call from {}", "calling": "Calling {}",
        "in_call": "In a call with {}", "call_ended": "Call ended ({})", "call_failed": "Call failed: {}",
        "signed_out": "Signed out", "hung_up": "hung up", "ended": "ended", "opening_link": "Opening the sign-in link",
        "incoming": "Incoming call", "in_call_group": "In call", "log": "Call log",
    },
    "vi": {
        "title": "Điện thoại", "intro": "Đăng nhập bằng máy nhánh của bạn.", "extension": "Máy nhánh",
        "domain": "Tên miền", "password": "Mật khẩu", "sign_in": "Đăng nhập", "number": "Số", "call": "Gọi",
        "keypad": "Bàn phím", "accept": "Nghe", "reject": "Từ chối", "hangup": "Gác máy", "hold": "Giữ máy",
        "resume": "Tiếp tục", "mute": "Tắt tiếng", "unmute": "Bật tiếng", "park": "Đỗ cuộc gọi",
        "transfer_to": "Chuyển tới", "transfer": "Chuyển", "calls": "Cuộc gọi", "sign_out": "Đăng xuất",
        "processing": "Lọc micrô (tiếng vọng, tạp âm, âm lượng)", "language": "English", "ready": "Sẵn sàng",
        "signing_in": "Đang đăng nhập", "sign_in_failed": "Đăng nhập không thành công: {}",
        "connection_lost": "Mất kết nối; đang thử lại", "call_from": "Cuộc gọi từ {}", "calling": "Đang gọi {}",
        "in_call": "Đang nói chuyện với {}", "call_ended": "Cuộc gọi đã kết thúc ({})",
        "call_failed": "Cuộc gọi không thành công: {}", "signed_out": "Đã đăng xuất", "hung_up": "đã gác máy",
        "ended": "đã kết thúc", "opening_link": "Đang mở liên kết đăng nhập", "incoming": "Cuộc gọi đến",
        "in_call_group": "Trong cuộc gọi", "log": "Nhật ký cuộc gọi",
    },
}

_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def language(request: Request, lang: str | None) -> str:
    """The language asked for, else the browser's cookie, else its Accept-Language, else English."""
    if lang in LABELS:
        return lang
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LABELS:
        return cookie
    accepted = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "vi" if accepted.startswith("vi") else "en"


def phone_settings(config: Config, domain: str) -> dict[str, object]:
    """What the page needs of the switch: its WebSocket ports (the page's own host is the
    switch's) and the park code of the account the domain names (else the default)."""
    ports = {spec.transport: spec.port for spec in reversed(config.server.listen)}
    account = next((a for a in config.accounts if a.domain.lower() == domain.lower()), None) if domain else None
    return {"ws": ports.get("ws"), "wss": ports.get("wss"), "park_code": account.park.code if account else "*85"}


class LinkIn(BaseModel):
    token: str = Field(max_length=400)


def mount(app: FastAPI, config: Callable[[], Config], secret: bytes) -> None:
    """``secret``: the switch's link secret (``ops.web_link.link_secret``)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    redeemed = Redeemed()

    @app.get("/phone", response_class=HTMLResponse, include_in_schema=False)
    def phone(request: Request, domain: str = Query("", max_length=253),
              lang: str | None = Query(None, max_length=5)) -> HTMLResponse:
        chosen = language(request, lang)
        settings = {**phone_settings(config(), domain), "labels": LABELS[chosen]}
        html = _templates.get_template("phone.html").render(
            static="/static", jssip=JSSIP.name, domain=domain, config=settings, t=LABELS[chosen], lang=chosen,
            other="vi" if chosen == "en" else "en")
        # the page's address may hold a sign-in link: never sent on to another site
        response = HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
        if lang in LABELS:
            response.set_cookie(LANG_COOKIE, chosen, samesite="strict")
        return response

    @app.post("/phone/link", include_in_schema=False)
    def open_sign_in_link(body: LinkIn) -> JSONResponse:
        """A link's credentials, once: the page asks from its script (a chat app's preview of
        the link fetches the page, not this), then signs in as the extension."""
        now = time.time()
        opened = open_link(config(), body.token, now, secret=secret, purpose=PHONE)
        if isinstance(opened, Opened) and not redeemed.first_use(body.token, opened.expires, now):
            opened = "This link was used already: ask for a new one."
        if not isinstance(opened, Opened):
            return JSONResponse({"error": opened}, status_code=403, headers={"Cache-Control": "no-store"})
        settings = phone_settings(config(), opened.domain)
        return JSONResponse({"number": opened.number, "domain": opened.domain, "password": opened.password,
                             "park_code": settings["park_code"]}, headers={"Cache-Control": "no-store"})
