"""Trunk host names resolved off the event loop, kept for a time.

A trunk's ``host`` may be a name.  Looking it up with ``socket.getaddrinfo`` on the event
loop would stall every call and registration for as long as the resolver takes (seconds,
when a DNS server does not answer), so names are resolved in the loop's executor
(``loop.getaddrinfo``) ahead of use: all trunk hosts when the switch starts and when a
config is applied, and again every ``ttl`` seconds while they are in use.  Routing asks
``address(host)``, which never blocks: the last address found, or the name itself for a
host never resolved (the first seconds after a reload added it; IP literals need no
lookup).  A lookup that fails keeps the last good address and is logged.

``getaddrinfo`` does not tell a record's DNS TTL; ``ttl`` is the switch's own refresh
period.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable

from .sip.uri import is_ip_literal

log = logging.getLogger(__name__)

DEFAULT_TTL = 300.0


class HostCache:
    def __init__(self, loop: asyncio.AbstractEventLoop, ttl: float = DEFAULT_TTL) -> None:
        self.loop = loop
        self.ttl = ttl
        self._addresses: dict[str, str] = {}
        self._hosts: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def address(self, host: str) -> str:
        """The address to send to for ``host``, without waiting."""
        return self._addresses.get(host, host)

    async def use(self, hosts: Iterable[str]) -> None:
        """Resolve ``hosts`` now (the ones in use from here on) and keep them fresh."""
        self._hosts = {h for h in hosts if not is_ip_literal(h)}
        await self._resolve_all()
        if self._task is None and self._hosts:
            self._task = self.loop.create_task(self._refresh())

    def use_soon(self, hosts: Iterable[str]) -> None:
        """``use`` from synchronous code (a config reload): resolved in the background."""
        task = self.loop.create_task(self.use(list(hosts)))
        task.add_done_callback(_log_failure)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.ttl)
            try:
                await self._resolve_all()
            except Exception:  # the next round tries again: this task must not end
                log.exception("refreshing the trunks' addresses failed")

    async def _resolve_all(self) -> None:
        hosts = sorted(self._hosts)
        found = await asyncio.gather(*(self._resolve(h) for h in hosts))
        for host, address in zip(hosts, found, strict=True):
            if address is not None:
                self._addresses[host] = address

    async def _resolve(self, host: str) -> str | None:
        try:
            infos = await self.loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        except Exception as exc:  # (not only OSError: UnicodeError for a name with an empty label, "sip..x.com")
            log.error("cannot resolve trunk host %s: %s (keeping %s)", host, exc, self._addresses.get(host, "the name"))
            return None
        return str(infos[0][4][0]) if infos else None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("resolving trunk hosts failed: %s", task.exception())
