"""The provisioning server: phones fetch their files over HTTP(S) on its own port (the same
process and loop as the switch, as the admin API).

Each device fetches only its own files: it signs in with HTTP digest (user: its MAC's 12 hex
digits, password: the device's ``password``), the MAC in the file's name must be that device's,
and so must the MAC its User-Agent ends with where the vendor puts one there.  A wrong password
counts towards the source's ban as a failed SIP authentication does (the switch's guard); a
banned source, or one outside ``provisioning.allow``, gets 403.  A MAC no account has gets 404
and is noted for the operator (``softswitch phones asked``): a phone to claim."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..config import Config
from ..ops.web_link import LINPHONE, Opened, Redeemed, open_link
from ..sip.auth import DigestAuthenticator, Verdict
from .files import render, user_agent_mac, wanted
from .profile import find_device, profile
from .softphones import LINPHONE_PATH, linphone_xml

log = logging.getLogger(__name__)

REALM = "softswitch provisioning"
ASKED_KEPT = 200  # unknown phones remembered for the operator


@dataclass
class Asked:
    """A phone no account has asked for its files."""

    mac: str
    user_agent: str
    address: str
    first: float
    last: float
    times: int = 1


@dataclass
class Guarded:
    """The switch's guard, as the provisioning server uses it."""

    is_banned: Callable[[str], bool] = lambda _host: False
    failed: Callable[[str], bool] = lambda _host: False
    succeeded: Callable[[str], None] = lambda _host: None


@dataclass
class Provisioner:
    config: Callable[[], Config]
    guard: Guarded = field(default_factory=Guarded)
    wall: Callable[[], float] = time.time
    auth: DigestAuthenticator = field(default_factory=lambda: DigestAuthenticator(secrets.token_bytes(32)))
    asked: OrderedDict[str, Asked] = field(default_factory=OrderedDict)
    redeemed: Redeemed = field(default_factory=Redeemed)  # Linphone links used
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # the switch's link secret
    counters: dict[str, int] = field(default_factory=lambda: {"served": 0, "challenged": 0, "refused": 0, "unknown": 0})

    def allowed(self, config: Config, host: str) -> bool:
        """Whether ``host`` is within ``provisioning.allow`` (any, when it lists none)."""
        networks = config.provisioning.allow if config.provisioning is not None else []
        if not networks:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(n, strict=False) for n in networks)

    def _note_unknown(self, mac: str, user_agent: str, host: str, now: float) -> None:
        seen = self.asked.get(mac)
        if seen is None:
            log.warning("a phone asked for provisioning: MAC %s, %r, from %s (no account has it: add it to an "
                        "account's devices to claim it)", mac, user_agent[:120], host)
            self.asked[mac] = Asked(mac, user_agent[:200], host, now, now)
            while len(self.asked) > ASKED_KEPT:
                self.asked.popitem(last=False)
        else:
            seen.last, seen.times, seen.address, seen.user_agent = now, seen.times + 1, host, user_agent[:200]
            self.asked.move_to_end(mac)

    def _challenge(self, stale: bool = False) -> Response:
        self.counters["challenged"] += 1
        challenges = self.auth.challenges(REALM, self.wall(), stale=stale)
        return Response(status_code=401, headers={"WWW-Authenticate": challenges[0], "Cache-Control": "no-store"})

    def _refuse(self, status: int, host: str | None = None) -> Response:
        self.counters["refused"] += 1
        if host is not None:
            self.guard.failed(host)
        return Response(status_code=status, headers={"Cache-Control": "no-store"})

    def fetch(self, name: str, host: str, user_agent: str, authorization: list[str]) -> Response:
        """One phone's request for the file ``name``."""
        config, now = self.config(), self.wall()
        if self.guard.is_banned(host) or not self.allowed(config, host):
            return self._refuse(403)
        want = wanted(name)
        if want is None:
            return self._refuse(404)
        ua_mac = user_agent_mac(user_agent)
        target = want.mac or ua_mac  # a common file is the asking phone's
        if target is None:  # a common file from a phone that did not say who it is: its credentials will
            passwords = {d.mac: d.password for a in config.accounts for d in a.devices}
        elif (wanted_device := find_device(config, target)) is None:
            self.counters["unknown"] += 1
            self._note_unknown(target, user_agent, host, now)
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        else:
            passwords = {wanted_device[1].mac: wanted_device[1].password}
        result = self.auth.verify("GET", authorization, REALM, passwords, now)
        if result.verdict is Verdict.MISSING:
            return self._challenge()
        if result.verdict is Verdict.STALE:
            return self._challenge(stale=True)
        if result.verdict is not Verdict.OK:
            log.warning("provisioning: %s from %s failed to authenticate as %r (%s)", name[:60], host,
                        (result.username or "")[:40], result.reason)
            self.counters["refused"] += 1
            self.guard.failed(host)
            return self._challenge()
        mac = result.username or ""
        if ua_mac is not None and ua_mac != mac:
            log.warning("provisioning: %s signed in as %s but its User-Agent says %s (%s): refused", host, mac, ua_mac,
                        user_agent[:120])
            return self._refuse(403, host)
        found = find_device(config, mac)
        if found is None:  # the device went from the config between the check and now
            return self._refuse(404)
        account, device = found
        self.guard.succeeded(host)
        try:
            rendered = render(profile(config, account, device, now), want.kind, device.label)
        except ValueError as exc:  # the switch cannot say where phones register (server.listen)
            log.error("provisioning %s: %s", mac, exc)
            return JSONResponse({"error": str(exc)}, status_code=503)
        if rendered is None:
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        body, content_type = rendered
        self.counters["served"] += 1
        log.info("provisioning: %s (%s, account %s) fetched %s from %s", mac, device.model, account.name, name[:60], host)
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    def linphone(self, token: str, host: str) -> Response:
        """Linphone's remote provisioning (a QR code's URL): the extension's account, once, while
        the link is valid; a bad or used link counts as a failed authentication."""
        config, now = self.config(), self.wall()
        if self.guard.is_banned(host) or not self.allowed(config, host):
            return self._refuse(403)
        opened = open_link(config, token, now, secret=self.secret, purpose=LINPHONE)
        if isinstance(opened, Opened) and not self.redeemed.first_use(token, opened.expires, now):
            opened = "This link was used already."
        if not isinstance(opened, Opened):
            log.warning("provisioning: a Linphone link from %s refused: %s", host, opened)
            return self._refuse(404, host)
        account = config.account(opened.account)
        extension = account.extension(opened.number) if account is not None else None
        if account is None or extension is None:
            return self._refuse(404)
        self.counters["served"] += 1
        log.info("provisioning: Linphone account %s of %s fetched from %s", extension.number, account.name, host)
        return Response(linphone_xml(config, account, extension), media_type="application/xml",
                        headers={"Cache-Control": "no-store"})

    def listing(self) -> list[dict[str, object]]:
        """The phones that asked and that no account has, newest last."""
        return [{"mac": a.mac, "user_agent": a.user_agent, "address": a.address, "first": a.first, "last": a.last,
                 "times": a.times} for a in self.asked.values()]


def build(provisioner: Provisioner) -> FastAPI:
    app = FastAPI(title="softswitch provisioning", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(f"/{LINPHONE_PATH}/{{token}}", include_in_schema=False)
    def linphone(token: str, request: Request) -> Response:
        return provisioner.linphone(token[:400], request.client.host if request.client is not None else "")

    @app.get("/{name:path}", include_in_schema=False)
    def fetch(name: str, request: Request) -> Response:
        host = request.client.host if request.client is not None else ""
        return provisioner.fetch(name.rsplit("/", 1)[-1], host, request.headers.get("user-agent", ""),
                                 request.headers.getlist("authorization"))

    return app
