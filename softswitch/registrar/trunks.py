"""Outbound registrations of the trunks that ask for one, driven by the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..config.schema import Trunk
from ..sip.message import Response
from ..sip.transaction import Target
from ..sip.transport.endpoint import SipEndpoint
from .outbound import OutboundRegistration

log = logging.getLogger(__name__)

TICK = 0.25  # seconds between looks at the registrations' timers


class TrunkRegistrations:
    def __init__(self, config: Config, endpoint: SipEndpoint, *, new_id: Callable[[], str], user_agent: str,
                 resolve: Callable[[str], str], wall_clock: Callable[[], float] = time.time) -> None:
        self.endpoint = endpoint
        self.new_id = new_id
        self.user_agent = user_agent
        self.resolve = resolve
        self.clock = wall_clock
        self.trunks: list[Trunk] = []
        self.registrations: dict[str, tuple[Trunk, OutboundRegistration, Target]] = {}
        self.apply_config(config)

    def apply_config(self, config: Config) -> None:
        """Start registering new or changed trunks; a trunk whose config is unchanged keeps
        its registration (and Call-ID)."""
        self.trunks = list(config.trunks)
        kept = {}
        for trunk in self.trunks:
            if trunk.registration is None:
                continue
            current = self.registrations.get(trunk.name)
            kept[trunk.name] = current if current is not None and current[0] == trunk else (
                trunk, self._make(trunk), self._target(trunk))
        self.registrations = kept

    def _make(self, trunk: Trunk) -> OutboundRegistration:
        reg = trunk.registration
        assert reg is not None
        return OutboundRegistration(
            trunk=trunk.name, registrar_uri=_registrar_uri(trunk), aor=f"sip:{reg.username}@{reg.domain or trunk.host}",
            contact=self.endpoint.contact(trunk.transport.upper(), reg.username), username=reg.username, password=reg.password,
            expires=reg.expires, call_id=f"{self.new_id()}{self.new_id()}", tag=self.new_id(), user_agent=self.user_agent,
        )

    def _target(self, trunk: Trunk) -> Target:
        return Target(trunk.transport.upper(), self.resolve(trunk.host), trunk.port)

    async def run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("trunk registration round failed")
            await asyncio.sleep(TICK)

    def tick(self) -> None:
        now = self.clock()
        for _, registration, target in self.registrations.values():
            when = registration.get_timer()
            if when is not None and when <= now:
                self._send(registration, target, None)

    def _send(self, registration: OutboundRegistration, target: Target, challenge: Response | None) -> None:
        request = registration.request(self.endpoint.new_via(target.transport), self.clock(), challenge, self.new_id())
        self.endpoint.send_request(request, target, functools.partial(self._answered, registration, target))

    def _answered(self, registration: OutboundRegistration, target: Target, response: Response | None) -> None:
        if response is not None and response.status < 200:
            return
        before = registration.status.state
        if registration.on_response(response, self.clock()):
            assert response is not None
            self._send(registration, target, response)
        after = registration.status.state
        if after != before and after in ("registered", "failed"):
            level = logging.INFO if after == "registered" else logging.WARNING
            log.log(level, "trunk %s %s: %s", registration.trunk, after, registration.status.last_status)

    def status(self) -> list[dict[str, Any]]:
        """Every trunk for ``softswitch trunks``: its registration, or "ip peer"."""
        rows: list[dict[str, Any]] = []
        for trunk in self.trunks:
            row: dict[str, Any] = {"trunk": trunk.name, "host": f"{trunk.host}:{trunk.port}", "transport": trunk.transport,
                                   "state": "ip peer", "expires_at": None, "last": "", "since": None}
            found = self.registrations.get(trunk.name)
            if found is not None:
                reg = found[1]
                row.update(registrar=reg.registrar_uri, aor=reg.aor, state=reg.status.state, expires_at=reg.status.expires_at,
                           last=reg.status.last_status, since=reg.status.last_change)
            rows.append(row)
        return rows


def _registrar_uri(trunk: Trunk) -> str:
    reg = trunk.registration
    domain = (reg.domain if reg is not None and reg.domain else None) or trunk.host
    port = "" if reg is not None and reg.domain else f":{trunk.port}"
    return f"sip:{domain}{port}"
