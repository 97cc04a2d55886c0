"""Registration bindings (RFC 3261 §10.3, RFC 5626 §6, RFC 3581) as a pure table.

Theory of operation
-------------------
``BindingTable`` holds every live binding by address of record (account,
extension).  ``register`` takes what the service read from one authenticated
REGISTER and returns the outcome (status, the bindings to list in the 200, and
the changes to persist), all or nothing: a contact below the minimum expiry
turns the whole request into ``423`` and changes nothing, and a binding from the
same Call-ID whose stored CSeq is not lower than the request's (a late or
replayed REGISTER; for ``Contact: *`` any binding of the AoR, otherwise one the
request names) turns it into ``500`` and changes nothing (§10.3 steps 6-7).  A binding's
identity is its ``+sip.instance``/``reg-id`` when the phone sends them
(RFC 5626: the same device replaces its old binding), else its contact URI.
Each binding remembers the flow the REGISTER arrived on (transport, source
address, connection), which is how the switch reaches a phone behind NAT, and
the Path an edge proxy added (RFC 3327), which is how any node of a cluster
reaches it: through that proxy.
Expired bindings are never returned; ``expire(now)`` removes them and says so.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Union

from ..sip.errors import RemoteProtocolError
from ..sip.headers import parse_name_addr
from ..sip.transaction import Target
from ..sip.uri import SipUri, parse_uri


@dataclass(frozen=True, slots=True)
class Rules:
    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 3600
    max_contacts: int = 5


@dataclass(frozen=True, slots=True)
class Binding:
    account: str
    extension: str
    key: str  # identity within the AoR: "instance:<id>:<reg-id>" or "uri:<uri key>"
    contact: str  # the Contact as the phone gave it (name-addr, minus expires)
    uri: str  # the contact URI alone
    expires_at: float
    registered_at: float
    call_id: str
    cseq: int
    source: Target
    nat: bool = False
    instance: str | None = None
    reg_id: int | None = None
    q: str | None = None
    user_agent: str = ""
    path: tuple[str, ...] = ()  # RFC 3327: the edge proxies to reach the phone through, first hop first

    @property
    def aor(self) -> tuple[str, str]:
        return (self.account, self.extension)

    def expires_in(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))

    @property
    def target(self) -> Target:
        """Where requests for this phone are sent: the flow it registered from, or, registered
        through an edge proxy, the Path's first hop (with the Path as their Route), so that any
        node of a cluster reaches it the same way."""
        if not self.path:
            return self.source
        return path_target(self.path[0], self.source)

    @property
    def client(self) -> Target:
        """Where the phone itself is: its flow, or, behind an edge proxy, the address the edge
        saw it at (the ``received`` of its Path, RFC 3327 as Kamailio writes it)."""
        if not self.path:
            return self.source
        try:
            hop = parse_name_addr(self.path[0], "Path").uri
            received = hop.param("received") if isinstance(hop, SipUri) else None
            seen = parse_uri(received) if received else None
        except RemoteProtocolError:
            return self.source
        if not isinstance(seen, SipUri):
            return self.source
        transport = (seen.param("transport") or self.source.transport).upper()
        return Target(transport, seen.host.strip("[]"), seen.port or 5060)


def path_target(hop: str, fallback: Target) -> Target:
    """The address of a Path/Route entry (a numeric host, as an edge proxy writes it)."""
    try:
        uri = parse_name_addr(hop, "Path").uri
    except RemoteProtocolError:
        return fallback
    if not isinstance(uri, SipUri):
        return fallback
    transport = (uri.param("transport") or fallback.transport).upper()
    return Target(transport, uri.host.strip("[]"), uri.port or (5061 if transport == "TLS" else 5060))


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """One Contact of a REGISTER, as read by the service."""

    key: str
    contact: str
    uri: str
    expires: int | None  # the contact's own expires parameter
    nat: bool = False
    instance: str | None = None
    reg_id: int | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True)
class Saved:
    binding: Binding
    refreshed: bool = False  # the same binding re-registered (only its expiry moved)
    previous_expiry: float | None = None  # when refreshed: the expiry it had


@dataclass(frozen=True, slots=True)
class Removed:
    binding: Binding
    why: str


Change = Union[Saved, Removed]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    bindings: tuple[Binding, ...] = ()
    changes: tuple[Change, ...] = ()
    reason: str | None = None
    min_expires: int | None = None


# The reason phrase names no header: SIPp (and naive phone parsers) find the CSeq
# method with strstr(msg, "CSeq"), which would land in the status line.
OUT_OF_ORDER = "Request out of order for this binding"


def _out_of_order(binding: Binding, call_id: str, cseq: int) -> bool:
    """RFC 3261 §10.3 steps 6-7: same Call-ID and a CSeq not higher than the stored one."""
    return binding.call_id == call_id and cseq <= binding.cseq


class BindingTable:
    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self._by_aor: dict[tuple[str, str], dict[str, Binding]] = {}
        self._expiry: list[tuple[float, int, tuple[str, str], str]] = []
        self._seq = itertools.count()

    # --- queries ----------------------------------------------------------
    def lookup(self, account: str, extension: str, now: float) -> list[Binding]:
        found = self._by_aor.get((account, extension), {})
        return sorted((b for b in found.values() if b.expires_at > now), key=lambda b: -b.registered_at)

    def all(self, now: float) -> list[Binding]:
        return [b for group in self._by_aor.values() for b in group.values() if b.expires_at > now]

    def __len__(self) -> int:
        return sum(len(group) for group in self._by_aor.values())

    # --- changes ----------------------------------------------------------
    def load(self, bindings: list[Binding], now: float) -> None:
        """Restore bindings (from the store after a restart); expired ones are skipped."""
        for b in bindings:
            if b.expires_at > now:
                self._put(b)

    def forget(self, binding: Binding) -> None:
        """Drop the binding with ``binding``'s identity (another node removed it)."""
        self._drop(binding)

    def _put(self, binding: Binding) -> None:
        self._by_aor.setdefault(binding.aor, {})[binding.key] = binding
        heapq.heappush(self._expiry, (binding.expires_at, next(self._seq), binding.aor, binding.key))

    def _drop(self, binding: Binding) -> None:
        group = self._by_aor.get(binding.aor)
        if group is not None:
            group.pop(binding.key, None)
            if not group:
                del self._by_aor[binding.aor]

    def register(
        self, account: str, extension: str, contacts: list[ContactRequest], *, star: bool,
        expires_header: int | None, call_id: str, cseq: int, source: Target, user_agent: str, now: float,
        path: tuple[str, ...] = (),
    ) -> Outcome:
        rules = self.rules
        current = {b.key: b for b in self.lookup(account, extension, now)}
        if star:
            # RFC 3261 §10.3 step 6: '*' only with Expires: 0 and no other Contact.
            if contacts or expires_header != 0:
                return Outcome(400, reason="Contact '*' requires Expires: 0 and no other Contact")
            # A binding from this Call-ID with a CSeq not lower than the request's aborts it
            # whole: nothing removed, and never a 200 for a removal that did not happen.
            if any(_out_of_order(b, call_id, cseq) for b in current.values()):
                return Outcome(500, reason=OUT_OF_ORDER)
            changes: list[Change] = []
            for b in current.values():
                self._drop(b)
                changes.append(Removed(b, "unregistered"))
            return Outcome(200, tuple(self.lookup(account, extension, now)), tuple(changes))

        plan: list[tuple[ContactRequest, int]] = []
        for c in contacts:
            expires = c.expires if c.expires is not None else expires_header
            if expires is None:
                expires = rules.default_expires
            if 0 < expires < rules.min_expires:
                return Outcome(423, min_expires=rules.min_expires)
            plan.append((c, min(expires, rules.max_expires)))
        # Step 7, checked for every contact before any is applied: one stale contact aborts all.
        for c, _ in plan:
            old = current.get(c.key)
            if old is not None and _out_of_order(old, call_id, cseq):
                return Outcome(500, reason=OUT_OF_ORDER)

        changes = []
        for c, expires in plan:
            old = current.get(c.key)
            if expires == 0:
                if old is not None:
                    self._drop(old)
                    del current[c.key]
                    changes.append(Removed(old, "unregistered"))
                continue
            binding = Binding(
                account, extension, c.key, c.contact, c.uri, now + expires, now, call_id, cseq, source,
                c.nat, c.instance, c.reg_id, c.q, user_agent, path,
            )
            self._put(binding)
            current[c.key] = binding
            refreshed = old is not None and old.uri == binding.uri and old.source == source and old.path == path
            changes.append(Saved(binding, refreshed, old.expires_at if refreshed and old is not None else None))
        # Over the limit: the binding refreshed longest ago makes room (never refuse).
        while len(current) > rules.max_contacts:
            oldest = min(current.values(), key=lambda b: (b.registered_at, b.expires_at))
            self._drop(oldest)
            del current[oldest.key]
            changes.append(Removed(oldest, "replaced: too many contacts"))
        return Outcome(200, tuple(self.lookup(account, extension, now)), tuple(changes))

    def remove_flow(self, source: Target, now: float, why: str) -> list[Change]:
        """Drop every binding reached through ``source`` (a dead NAT flow or connection)."""
        gone = [b for b in self.all(now) if b.source == source]
        for b in gone:
            self._drop(b)
        return [Removed(b, why) for b in gone]

    def remove_aor(self, account: str, extension: str, why: str) -> list[Change]:
        group = self._by_aor.pop((account, extension), {})
        return [Removed(b, why) for b in group.values()]

    def get_timer(self) -> float | None:
        while self._expiry:
            when, _, aor, key = self._expiry[0]
            live = self._by_aor.get(aor, {}).get(key)
            if live is not None and live.expires_at == when:
                return when
            heapq.heappop(self._expiry)
        return None

    def expire(self, now: float) -> list[Change]:
        out: list[Change] = []
        while self._expiry and self._expiry[0][0] <= now:
            when, _, aor, key = heapq.heappop(self._expiry)
            live = self._by_aor.get(aor, {}).get(key)
            if live is not None and live.expires_at == when:
                self._drop(live)
                out.append(Removed(live, "expired"))
        return out
