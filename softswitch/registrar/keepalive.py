"""NAT keep-alives (SPEC "Safe defaults"; RFC 5626 §3.5.1 for streams).

Every ``keepalive.interval`` seconds each flow that wants it (``RegistrarService.keepalive_flows``)
gets a ping: an OPTIONS over UDP, whose transaction doubles as the liveness check, or a
CRLFCRLF over TCP/TLS, whose connection tells us when it dies.  A UDP flow whose pings go
unanswered ``keepalive.failures`` times in a row loses its bindings.  One ping per flow at a
time, however many bindings share it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from ..sip.headers import NameAddr
from ..sip.message import Header, Request, Response
from ..sip.transaction import Target
from ..sip.transport.endpoint import SipEndpoint
from ..sip.uri import SipUri, parse_uri
from .service import RegistrarService

log = logging.getLogger(__name__)


class KeepaliveService:
    def __init__(self, registrar: RegistrarService, endpoint: SipEndpoint, *, user_agent: str, new_id: Callable[[], str]) -> None:
        self.registrar = registrar
        self.endpoint = endpoint
        self.user_agent = user_agent
        self.new_id = new_id
        self._failures: dict[Target, int] = {}
        self._in_flight: set[Target] = set()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.registrar.config.keepalive.interval)
            try:
                self.send_round()
            except Exception:
                log.exception("keep-alive round failed")

    def send_round(self) -> int:
        sent = 0
        flows = self.registrar.keepalive_flows()
        for gone in [flow for flow in self._failures if flow not in flows]:  # (a phone that moved: its count goes)
            del self._failures[gone]
        for flow, binding in flows.items():
            if flow.transport != "UDP":
                self.endpoint.send_raw(flow, b"\r\n\r\n")
            elif flow not in self._in_flight:
                self._in_flight.add(flow)
                self.endpoint.send_request(self._ping(binding.uri), flow, functools.partial(self._answered, flow))
            else:
                continue
            sent += 1
        return sent

    def _ping(self, contact_uri: str) -> Request:
        config = self.registrar.config
        host, _ = self.endpoint.via_address("UDP")
        domain = config.default_account.domain
        headers = [
            Header("Via", self.endpoint.new_via("UDP")),
            Header("Max-Forwards", "70"),
            Header("From", str(NameAddr(SipUri("sip", domain, "keepalive"), None, (("tag", self.new_id()),)))),
            Header("To", f"<{contact_uri}>"),
            Header("Call-ID", f"{self.new_id()}@{host}"),
            Header("CSeq", "1 OPTIONS"),
            Header("User-Agent", self.user_agent),
            Header("Content-Length", "0"),
        ]
        return Request("OPTIONS", parse_uri(contact_uri), headers)

    def _answered(self, flow: Target, response: Response | None) -> None:
        """Any response proves the flow alive; a transaction timeout counts against it."""
        self._in_flight.discard(flow)
        if response is not None:
            self._failures.pop(flow, None)
            return
        failures = self._failures.get(flow, 0) + 1
        if failures >= self.registrar.config.keepalive.failures:
            self._failures.pop(flow, None)
            self.registrar.flow_dead(flow)
        else:
            self._failures[flow] = failures
