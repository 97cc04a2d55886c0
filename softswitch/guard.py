"""Per-source limits at the edge: the pure ``SourceGuard`` (security.py) on the monotonic
clock, fed by the SIP endpoint (``is_banned`` before parsing, ``admit`` after) and by the
registrar's digest authentication (challenges sent and answered, failures).

Each ban is logged once when it starts, with the counts that caused it, and once when it
ends, with how many messages it dropped; never per packet.  The allow-list is the trunks'
addresses (``inbound_addresses``, an IP ``host``, or the address a host name resolved to)
``security.trusted_networks`` and a cluster's edge proxies; it is refreshed every second, so a trunk whose name
resolves later is trusted from then on.  ``listing`` and ``lift`` serve the control socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from .config import Config
from .security import CHALLENGES, FAILURES, Ban, Kind, Limits, Network, SourceGuard, classify, source_key
from .sip.errors import RemoteProtocolError
from .sip.message import Request, Response
from .sip.transaction import Target

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between sweeps: ended bans reported, idle sources let go, trunks re-resolved
LIFT_MEMORY = 120.0  # seconds a lifted ban read back from a cluster's store is not imposed again (beats <= 60 s)


class Guard:
    def __init__(self, config: Config, *, resolve: Callable[[str], str] = lambda host: host,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.core = SourceGuard()
        self.resolve = resolve
        self.clock = clock
        self.wall = wall
        self._trust: tuple[frozenset[str], tuple[Network, ...]] | None = None
        self._tick: asyncio.TimerHandle | None = None
        self.on_ban: Callable[[str, str, float], None] | None = None  # source, why, seconds: a cluster's nodes hear it
        self.on_lift: Callable[[str], None] | None = None
        self._lifted: dict[str, float] = {}  # source -> when its ban was lifted (here or at another node), lately
        self._keys: dict[str, str] = {}  # IPv6 address -> the source it counts as (source_of)
        self.apply_config(config)

    def apply_config(self, config: Config) -> None:
        sec = config.security
        req = sec.max_requests
        self.core.limits = Limits(
            window=sec.rate_window, registrations=req.registrations, calls=req.calls, subscriptions=req.subscriptions,
            other=req.other, dialog=req.in_dialog, challenges=sec.max_unanswered_challenges,
            challenge_window=sec.challenge_window, failures=sec.ban_threshold, failure_window=sec.ban_window,
            ban_time=sec.ban_time, max_sources=sec.max_sources,
        )
        self.config = config
        self._keys.clear()  # (the prefix may have changed)
        self._refresh_trust()

    def _refresh_trust(self) -> None:
        hosts = {address for t in self.config.trunks for address in t.trusted}
        hosts.update(self.resolve(t.host) for t in self.config.trunks)
        networks = list(self.config.security.trusted_networks)
        if self.config.cluster is not None:  # the edge proxies carry everyone's requests (they run pike themselves)
            networks += self.config.cluster.edges
        trust = (frozenset(hosts), tuple(ipaddress.ip_network(n) for n in networks))
        if trust != self._trust:
            self._trust = trust
            self.core.trust(*trust)
            self._keys.clear()

    def source_of(self, host: str) -> str:
        """What ``host`` is counted and banned as: itself, or for an IPv6 address its network
        (``security.ipv6_prefix``) unless the address is trusted (a trunk's address is exempt,
        not its neighbours)."""
        if ":" not in host:
            return host
        key = self._keys.get(host)
        if key is None:
            if len(self._keys) >= 65536:
                self._keys.clear()
            trusted = self.core.is_trusted(host)
            key = self._keys[host] = host if trusted else source_key(host, self.config.security.ipv6_prefix)
        return key

    # --- the periodic sweep -------------------------------------------------------
    def start(self) -> None:
        self._tick = asyncio.get_running_loop().call_later(TICK, self._on_tick)

    def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _on_tick(self) -> None:
        try:
            self.sweep()
        except Exception:
            log.exception("internal error sweeping the per-source limits")
        self.start()

    def sweep(self) -> None:
        now = self.clock()
        for ban in self.core.sweep(now):
            log.warning("ban on %s (%s) ended after %.0f s; %d messages dropped", ban.source, ban.why,
                        min(now, ban.until) - ban.since, ban.dropped)
        self._refresh_trust()

    # --- the endpoint's hooks ---------------------------------------------------------
    def is_banned(self, host: str) -> bool:
        return self.core.is_banned(host if ":" not in host else self.source_of(host), self.clock())

    def admit(self, msg: Request | Response | None, source: Target) -> bool:
        """Count one message (None: one that did not parse); False: it starts a ban and is dropped."""
        if msg is None:
            kind = Kind.OTHER
        elif isinstance(msg, Response):
            kind = Kind.DIALOG
        else:
            kind = classify(msg.method, msg.method in ("ACK", "CANCEL") or _has_to_tag(msg))
        return self._count(source, kind)

    def admit_new(self, method: str, source: Target) -> bool:
        """``admit`` for a new request (no To tag) of ``method`` known from a glance, unparsed."""
        return self._count(source, classify(method, method in ("ACK", "CANCEL")))

    def _count(self, source: Target, kind: Kind) -> bool:
        ban = self.core.count(self.source_of(source.host), kind, self.clock())
        if ban is None:
            return True
        self._started(ban)
        return False

    # --- the registrar's hooks --------------------------------------------------------
    def challenged(self, host: str) -> None:
        ban = self.core.challenged(self.source_of(host), self.clock())
        if ban is not None:
            self._started(ban)

    def answered(self, host: str) -> None:
        self.core.answered(self.source_of(host), self.clock())

    def failed(self, host: str) -> bool:
        """A failed authentication; True when it starts a ban."""
        ban = self.core.failed(self.source_of(host), self.clock())
        if ban is not None:
            self._started(ban)
        return ban is not None

    def succeeded(self, host: str) -> None:
        self.core.succeeded(self.source_of(host))

    def _started(self, ban: Ban) -> None:
        limits = self.core.limits
        if ban.why == FAILURES:
            rule = f"{limits.failures} {FAILURES} in {limits.failure_window:g} s"
        elif ban.why == CHALLENGES:
            rule = f"more than {limits.challenges} {CHALLENGES} in {limits.challenge_window:g} s"
        else:
            limit = next(limits.of(k) for k in Kind if k.label == ban.why)
            rule = f"more than {limit} {ban.why} in {limits.window:g} s"
        counts = ", ".join(f"{what} {n}" for what, n in ban.counts.items())
        log.warning("banning %s for %.0f s: %s (%s); its messages are dropped unanswered", ban.source, limits.ban_time, rule, counts)
        if self.on_ban is not None:
            self.on_ban(ban.source, ban.why, ban.until - ban.since)

    def learn_ban(self, source: str, why: str, seconds: float, node: str, *, stored: bool = False) -> None:
        """Another node banned ``source`` for ``seconds`` more: so does this one (unless it
        already bans it that long: a ban read again is not imposed again).  ``stored``: read
        from the store, where a ban lifted lately may still be (its row goes at the lifting
        node's next beat): not imposed again."""
        now = self.clock()
        until = self.core.banned_until(source)
        if seconds <= 0 or self.core.is_trusted(source) or (until is not None and until >= now + seconds - 1):
            return
        if stored and now - self._lifted.get(source, -math.inf) < LIFT_MEMORY:
            return
        self.core.impose(source, f"{why} (banned by node {node})", now + seconds, now)
        log.warning("banning %s for %.0f s: node %s banned it (%s)", source, seconds, node, why)

    def _remember_lift(self, source: str) -> None:
        self._lifted.pop(source, None)
        self._lifted[source] = self.clock()
        if len(self._lifted) > 1024:
            del self._lifted[next(iter(self._lifted))]

    def learn_lift(self, source: str, node: str) -> None:
        self._remember_lift(source)
        if self.core.lift(source) is not None:
            log.warning("ban on %s lifted by node %s", source, node)

    # --- the control socket -----------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        now, wall = self.clock(), self.wall()
        return [{"source": b.source, "why": b.why, "since": wall - (now - b.since), "until": wall + (b.until - now),
                 "left": round(b.until - now, 1), "dropped": b.dropped, "counts": b.counts} for b in self.core.bans(now)]

    def lift(self, address: str, by: str = "the control socket") -> dict[str, Any]:
        """End the ban on ``address`` (an IPv6 address's: its network's, as ``bans`` lists it)."""
        try:
            if "/" in address:  # an IPv6 source as listed (or one address written as a network)
                network = ipaddress.ip_network(address.strip(), strict=True)
                single = network.prefixlen == network.max_prefixlen
                host = self.source_of(str(network.network_address)) if single else str(network)
            else:
                host = self.source_of(str(ipaddress.ip_address(address.strip("[]"))))
        except ValueError:
            raise ValueError(f"{address[:100]!r} is not an IP address or an IPv6 source as bans lists it") from None
        ban = self.core.lift(host)
        self._remember_lift(host)
        if self.on_lift is not None:
            self.on_lift(host)
        if ban is None:
            return {"lifted": None}
        log.warning("ban on %s (%s) lifted by %s after %.0f s; %d messages dropped",
                    host, ban.why, by, self.clock() - ban.since, ban.dropped)
        return {"lifted": host, "why": ban.why, "dropped": ban.dropped}

    def counters(self) -> dict[str, object]:
        return dict(self.core.counters, banned=self.core.banned, sources=self.core.tracked)


def _has_to_tag(request: Request) -> bool:
    try:
        return request.to.tag is not None
    except RemoteProtocolError:  # a malformed To: counted as out of dialog, answered 400 further on
        return False
