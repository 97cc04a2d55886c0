"""Per-source limits and bans, pike-like (SPEC: What bad input gets; issue 13 item 1).

Theory of operation.  A source is an IPv4 address, or an IPv6 network of one subscriber
(``source_key``: a /64 unless configured).  ``SourceGuard`` counts, per source:

- requests in classes (``Kind``) over a sliding window of ``Limits.window`` seconds:
  registrations, calls (INVITE), subscriptions and other out-of-dialog requests (OPTIONS,
  MESSAGE, ...) each against their own limit, and in-dialog requests, ACK, CANCEL and
  responses against a generous one, so a phone's own calls are never cut;
- challenges (401/407) it was sent, less the requests with credentials it came back with,
  in a bucket leaking ``challenges`` per ``challenge_window`` (what a phone left unanswered
  is forgiven): a source that keeps getting challenges it never answers (a REGISTER flood, a
  scanner) is caught even when it stays under the request limits;
- failed authentications over ``failure_window``: a password guesser is cut off at
  ``failures`` (a success starts the count again).

A request beyond its class's limit (the ``limit``-th still served), the challenge beyond
``challenges`` (itself still sent) and the ``failures``-th failure ban the source for
``ban_time`` seconds: everything it sends is dropped unanswered (unparseable messages count
as other requests).  The ban is reported once, with the counts
that caused it, by the call that started it, and once more by ``sweep`` when it has ended
(with how many messages it dropped).  Trusted sources (the trunks' addresses, trusted
networks) are exempt from the request and challenge limits; failed authentications count
for every source.

The windows are two fixed buckets weighted by how far the current one has run (the
"sliding window counter"): a few numbers per source, exact for a burst from a quiet
source, so a burst of ``limit`` requests is fully served and the next one bans.
Memory is bounded: at most ``max_sources`` sources are tracked (idle ones are purged, then
the least recently seen dropped: a flood from spoofed addresses cannot grow the tables),
and at most as many bans.  Pure: time comes in as ``now`` (monotonic seconds).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Kind(enum.IntEnum):
    """What a message counts as.  The value indexes the per-source counters."""

    REGISTER = 0
    CALL = 1
    SUBSCRIBE = 2
    OTHER = 3
    DIALOG = 4

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {Kind.REGISTER: "registrations", Kind.CALL: "calls", Kind.SUBSCRIBE: "subscriptions",
           Kind.OTHER: "other requests", Kind.DIALOG: "in-dialog messages"}
_BY_METHOD = {"REGISTER": Kind.REGISTER, "INVITE": Kind.CALL, "SUBSCRIBE": Kind.SUBSCRIBE,
              "ACK": Kind.DIALOG, "CANCEL": Kind.DIALOG}
CHALLENGES = "unanswered challenges"
FAILURES = "failed authentications"


def classify(method: str | None, in_dialog: bool) -> Kind:
    """``method`` None: a response.  In-dialog requests (a To tag), ACK, CANCEL and responses
    are the generous class: they belong to calls and subscriptions already set up."""
    if method is None or in_dialog:
        return Kind.DIALOG
    return _BY_METHOD.get(method, Kind.OTHER)


@dataclass(frozen=True, slots=True)
class Limits:
    """What a source may do (0: no limit of that kind)."""

    window: float = 10.0
    registrations: int = 60
    calls: int = 60
    subscriptions: int = 300
    other: int = 60
    dialog: int = 1000
    challenges: int = 100
    challenge_window: float = 60.0
    failures: int = 10
    failure_window: float = 60.0
    ban_time: float = 300.0
    max_sources: int = 50_000

    def of(self, kind: Kind) -> int:
        return (self.registrations, self.calls, self.subscriptions, self.other, self.dialog)[kind]

    @property
    def challenge_rate(self) -> float:
        """Unanswered challenges forgiven per second."""
        return self.challenges / self.challenge_window

    @property
    def memory(self) -> float:
        """How long an idle source's counts still matter."""
        return 2 * max(self.window, self.challenge_window, self.failure_window)


@dataclass(slots=True)
class Ban:
    source: str
    why: str  # a Kind's label, CHALLENGES or FAILURES
    since: float
    until: float
    counts: dict[str, int]  # what the source had done within the windows when banned
    dropped: int = 0  # messages dropped while it lasted


class _Window:
    """Events within the last ``span`` seconds: the current bucket plus the previous one
    weighted by the part of it still inside the window."""

    __slots__ = ("start", "prev", "cur")

    def __init__(self, now: float) -> None:
        self.start = now
        self.prev = 0.0
        self.cur = 0.0

    def count(self, now: float, span: float) -> float:
        elapsed = now - self.start
        if elapsed >= span:
            self.prev = self.cur if elapsed < 2 * span else 0.0
            self.cur = 0.0
            self.start = now - elapsed % span
            elapsed = now - self.start
        return self.prev * max(0.0, 1.0 - elapsed / span) + self.cur


class _Leaky:
    """A level that leaks at ``rate`` per second and never goes below zero."""

    __slots__ = ("level", "at")

    def __init__(self, now: float) -> None:
        self.level = 0.0
        self.at = now

    def value(self, now: float, rate: float) -> float:
        self.level = max(0.0, self.level - max(0.0, now - self.at) * rate)
        self.at = now
        return self.level


class _Source:
    __slots__ = ("seen", "requests", "challenges", "failures")

    def __init__(self, now: float) -> None:
        self.seen = now
        self.requests: list[_Window | None] = [None] * len(Kind)
        self.challenges: _Leaky | None = None
        self.failures: _Window | None = None

    def counts(self, now: float, limits: Limits) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind in Kind:
            w = self.requests[kind]
            if w is not None and (n := round(w.count(now, limits.window))):
                out[kind.label] = n
        if self.challenges is not None and (n := round(self.challenges.value(now, limits.challenge_rate))):
            out[CHALLENGES] = n
        if self.failures is not None and (n := round(self.failures.count(now, limits.failure_window))):
            out[FAILURES] = n
        return out


@dataclass
class SourceGuard:
    limits: Limits = field(default_factory=Limits)
    trusted_hosts: frozenset[str] = frozenset()
    trusted_networks: tuple[Network, ...] = ()
    _sources: dict[str, _Source] = field(default_factory=dict)
    _bans: dict[str, Ban] = field(default_factory=dict)
    _ended: list[Ban] = field(default_factory=list)
    _trusted: dict[str, bool] = field(default_factory=dict)
    _purged_at: float = float("-inf")
    counters: dict[str, int] = field(default_factory=lambda: {"bans": 0, "bans_lifted": 0, "sources_evicted": 0})

    def trust(self, hosts: Iterable[str], networks: Iterable[Network]) -> None:
        """The allow-list: addresses (trunks) and networks exempt from the request limits."""
        self.trusted_hosts = frozenset(h.strip("[]").lower() for h in hosts)
        self.trusted_networks = tuple(networks)
        self._trusted.clear()

    def is_trusted(self, host: str) -> bool:
        known = self._trusted.get(host)
        if known is None:
            if len(self._trusted) >= 65536:
                self._trusted.clear()
            known = self._trusted[host] = _trusted(host, self.trusted_hosts, self.trusted_networks)
        return known

    # --- what comes in ------------------------------------------------------------
    def is_banned(self, host: str, now: float) -> bool:
        """Checked for every message before it is parsed: one look-up for a source not banned."""
        ban = self._bans.get(host)
        if ban is None:
            return False
        if now < ban.until:
            ban.dropped += 1
            return True
        del self._bans[host]
        self._ended.append(ban)
        return False

    def count(self, host: str, kind: Kind, now: float) -> Ban | None:
        """One message from ``host``; the ban it starts (the message is then dropped), if any."""
        limit = self.limits.of(kind)
        if not limit or self.is_trusted(host):
            return None
        src = self._touch(host, now)
        w = src.requests[kind]
        if w is None:
            w = src.requests[kind] = _Window(now)
        n = w.count(now, self.limits.window) + 1
        w.cur += 1
        if n > limit:
            return self._ban(host, src, kind.label, now)
        return None

    def challenged(self, host: str, now: float) -> Ban | None:
        """A 401/407 is being sent to ``host``; the ban it starts, if any (that challenge is
        still sent: its transaction is up, and the next message is dropped anyway)."""
        limit = self.limits.challenges
        if not limit or self.is_trusted(host):
            return None
        src = self._touch(host, now)
        if src.challenges is None:
            src.challenges = _Leaky(now)
        n = src.challenges.level = src.challenges.value(now, self.limits.challenge_rate) + 1
        if n > limit:
            return self._ban(host, src, CHALLENGES, now)
        return None

    def answered(self, host: str, now: float) -> None:
        """A request with credentials came from ``host``: one challenge answered."""
        src = self._sources.get(host)
        if src is not None and src.challenges is not None:
            src.challenges.level = max(0.0, src.challenges.value(now, self.limits.challenge_rate) - 1)

    def failed(self, host: str, now: float) -> Ban | None:
        """A failed authentication from ``host``; the ban it starts, if any."""
        limit = self.limits.failures
        if not limit or host.strip("[]").lower() in self.trusted_hosts:
            # A trunk is trusted by its address and never gives a password: failures "from" it
            # can only be spoofed datagrams, which must not ban the provider's calls.  (A guesser
            # inside a trusted network is still cut off.)
            return None
        src = self._touch(host, now)
        if src.failures is None:
            src.failures = _Window(now)
        n = src.failures.count(now, self.limits.failure_window) + 1
        src.failures.cur += 1
        if n >= limit:
            return self._ban(host, src, FAILURES, now)
        return None

    def succeeded(self, host: str) -> None:
        """``host`` authenticated: its failures start again from zero."""
        src = self._sources.get(host)
        if src is not None:
            src.failures = None

    # --- bans ---------------------------------------------------------------------
    def banned_until(self, host: str) -> float | None:
        """When ``host``'s ban ends (None: not banned); nothing is counted."""
        ban = self._bans.get(host)
        return None if ban is None else ban.until

    def bans(self, now: float) -> list[Ban]:
        return sorted((b for b in self._bans.values() if now < b.until), key=lambda b: b.since)

    def lift(self, host: str) -> Ban | None:
        """End ``host``'s ban now (an operator's decision); its counts start again too."""
        self._sources.pop(host, None)
        ban = self._bans.pop(host, None)
        if ban is not None:
            self.counters["bans_lifted"] += 1
        return ban

    def impose(self, host: str, why: str, until: float, now: float) -> Ban:
        """A ban decided elsewhere (another node of a cluster saw the source misbehave)."""
        ban = Ban(host, why, now, until, {})
        self._sources.pop(host, None)
        self._bans[host] = ban
        self.counters["bans_shared"] = self.counters.get("bans_shared", 0) + 1
        return ban

    def sweep(self, now: float) -> list[Ban]:
        """Call every second or so: the bans that have ended since the last call, and the
        sources idle long enough that their counts no longer matter let go."""
        ended, self._ended = self._ended, []
        for host in [h for h, b in self._bans.items() if now >= b.until]:
            ended.append(self._bans.pop(host))
        if now - self._purged_at >= self.limits.window:
            self._purged_at = now
            self._purge(now)
        return ended

    @property
    def tracked(self) -> int:
        return len(self._sources)

    @property
    def banned(self) -> int:
        return len(self._bans)

    def _ban(self, host: str, src: _Source, why: str, now: float) -> Ban:
        ban = Ban(host, why, now, now + self.limits.ban_time, src.counts(now, self.limits))
        del self._sources[host]  # after the ban it starts from nothing
        if host not in self._bans and len(self._bans) >= self.limits.max_sources:
            self._ended.append(self._bans.pop(next(iter(self._bans))))
        self._bans[host] = ban
        self.counters["bans"] += 1
        key = "bans_" + why.replace(" ", "_").replace("-", "_")
        self.counters[key] = self.counters.get(key, 0) + 1
        return ban

    def _touch(self, host: str, now: float) -> _Source:
        """The source's counters, moved to the recently seen end of the table."""
        src = self._sources.pop(host, None)
        if src is None:
            if len(self._sources) >= self.limits.max_sources:
                self._make_room(now)
            src = _Source(now)
        src.seen = now
        self._sources[host] = src
        return src

    def _make_room(self, now: float) -> None:
        self._purge(now)
        if len(self._sources) >= self.limits.max_sources:  # none idle: drop the least recently seen tenth
            drop = max(1, self.limits.max_sources // 10)
            for host in list(islice(self._sources, drop)):
                del self._sources[host]
            self.counters["sources_evicted"] += drop

    def _purge(self, now: float) -> None:
        horizon = now - self.limits.memory
        for host in [h for h, s in self._sources.items() if s.seen < horizon]:
            del self._sources[host]


def source_key(host: str, ipv6_prefix: int = 64) -> str:
    """What ``host`` is counted and banned as: an IPv4 address itself; an IPv6 address as its
    network of ``ipv6_prefix`` bits (``2001:db8:1:2::/64``), since one subscriber holds a whole
    /64 or more (RFC 6177) and may send from any of its 2^64 addresses; an IPv4-mapped IPv6
    address as the IPv4 address.  Anything else as it is."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.strip("[]"))
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if ipv6_prefix >= 128:
        return str(address)
    return str(ipaddress.IPv6Network((int(address) >> (128 - ipv6_prefix) << (128 - ipv6_prefix), ipv6_prefix)))


def _trusted(host: str, hosts: frozenset[str], networks: tuple[Network, ...]) -> bool:
    bare = host.strip("[]").lower()
    if bare in hosts:
        return True
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return False
    return any(address in net for net in networks)
