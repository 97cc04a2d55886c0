"""The registrar service: REGISTER handling, NAT keep-alives and persistence.

It is the transaction user for REGISTER.  Everything a REGISTER needs is in
memory (accounts and passwords from the config, bindings in the pure
``BindingTable``), so a REGISTER is answered without waiting on the store;
changes are queued and written in batches (``BatchWriter``).  Keep-alives
go once per flow (transport + source address), not once per binding.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..config import Account, Config
from ..guard import Guard
from ..overload import Admission, Shed
from ..sip.auth import DigestAuthenticator, Verdict
from ..sip.errors import RemoteProtocolError
from ..sip.headers import NameAddr, parse_name_addr, parse_name_addr_list
from ..sip.message import Header, Request, Response, make_response
from ..sip.peek import Peek
from ..sip.transaction import ServerTransaction, Target
from ..sip.transport.endpoint import StatelessRefusal
from ..sip.uri import SipUri, Uri
from ..store import BindingStore, RegistrationChange, RegistrationRemoved, RegistrationRow, RegistrationSaved
from ..store.writer import BatchWriter
from .core import Binding, BindingTable, Change, ContactRequest, Removed, Rules, Saved, path_target

log = logging.getLogger(__name__)


@dataclass
class Directory:
    """Accounts by domain, passwords by account: what the registrar reads per request."""

    config: Config
    default: Account = field(init=False)
    by_domain: dict[str, Account] = field(init=False)
    passwords: dict[str, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.default = self.config.default_account
        self.by_domain = {a.domain: a for a in self.config.accounts}
        self.passwords = {a.name: {e.number: e.password for e in a.extensions} for a in self.config.accounts}

    def account_for_host(self, host: str) -> Account | None:
        """The account a request for ``host`` belongs to: by domain, or the default
        account when the request names an IP address (ours) instead of a domain."""
        bare = host.strip("[]").lower()
        account = self.by_domain.get(bare)
        if account is None and _is_ip(bare):
            return self.default
        return account


@functools.lru_cache(maxsize=1024)
def _in_networks(host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(address in n for n in networks)


@functools.lru_cache(maxsize=1024)
def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def contact_key(uri: Uri, instance: str | None, reg_id: int | None) -> str:
    """A binding's identity: the device (RFC 5626 instance and reg-id) or else the contact
    URI compared as RFC 3261 §19.1.4 says."""
    if instance:
        return f"instance:{instance}:{'' if reg_id is None else reg_id}"[:500]
    return _uri_key(str(uri), uri)


def _uri_key(text: str, uri: Uri) -> str:
    key = _URI_KEYS.get(text)
    if key is None:
        if len(_URI_KEYS) > 65536:
            _URI_KEYS.clear()
        key = _URI_KEYS[text] = "uri:" + hashlib.sha1(repr(uri.key()).encode("utf-8", "surrogateescape")).hexdigest()
    return key


_URI_KEYS: dict[str, str] = {}


QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")  # RFC 3261 §25.1 qvalue
MAX_CONTACT, MAX_KEY, MAX_INSTANCE, MAX_CALL_ID = 1024, 512, 256, 256  # the registrations table's columns


def _contact_request(c: NameAddr, source: Target) -> ContactRequest:
    expires_text = c.param("expires")
    expires: int | None = None
    if expires_text is not None:
        if not expires_text.isdigit() or not expires_text.isascii():
            raise RemoteProtocolError(f"Contact: bad expires parameter {expires_text!r}")
        expires = min(int(expires_text[:12]), 2**32 - 1)
    instance = c.param("+sip.instance") or None
    reg_text = c.param("reg-id")
    reg_id = int(reg_text) if reg_text and reg_text.isdigit() and len(reg_text) < 10 else None
    uri_text = str(c.uri)
    kept = tuple((n, v) for n, v in c.params if n.lower() != "expires")
    shown = str(NameAddr(c.uri, c.display_name, kept))
    nat = False
    if isinstance(c.uri, SipUri):
        port = c.uri.port or (5061 if c.uri.scheme.lower() == "sips" or source.transport == "TLS" else 5060)
        nat = (c.uri.host.strip("[]").lower(), port) != (source.host.lower(), source.port)
    key = contact_key(c.uri, instance, reg_id)
    q = c.param("q")
    if q is not None and not QVALUE.fullmatch(q):
        raise RemoteProtocolError(f"Contact: bad q parameter {q[:20]!r}")
    for what, text, most in (("Contact", shown, MAX_CONTACT), ("Contact URI", uri_text, MAX_CONTACT),
                             ("binding", key, MAX_KEY), ("+sip.instance", instance or "", MAX_INSTANCE)):
        if len(text) > most:  # kept in the store, whose columns have these lengths
            raise RemoteProtocolError(f"{what} longer than {most} characters")
    if "\x00" in shown:  # an escaped NUL in a quoted string: PostgreSQL's text refuses it
        raise RemoteProtocolError("Contact: a NUL character cannot be kept in a registration")
    return ContactRequest(key, shown, uri_text, expires, nat, instance, reg_id, q)


class RegistrarService:
    def __init__(
        self, config: Config, store: BindingStore, *, secret: bytes,
        respond: Callable[[ServerTransaction, Response], None], tag_factory: Callable[[], str],
        guard: Guard, wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.respond = respond
        self.tag_factory = tag_factory
        self.clock = wall_clock
        self.secret = secret
        self.table = BindingTable()
        # Bindings another node of the cluster made, by (account, extension, key): that node
        # keeps their flows alive (from here the phone's NAT would not answer).
        self.learned: set[tuple[str, str, str]] = set()
        self.writer: BatchWriter[Change] = BatchWriter(self._persist, config.store.flush_interval, "bindings")
        self.guard = guard  # per-source limits: the challenges sent and answered and the failures count there
        self.on_authenticated: Callable[[Target], None] = lambda flow: None  # a request on that flow passed digest
        self.admission: Admission | None = None  # load shedding (the call service's): a storm of new registrations
        self.counters = {"registered": 0, "challenged": 0, "auth_failed": 0, "banned": 0}
        self.on_changes: Callable[[Sequence[Change]], None] | None = None  # a cluster's other nodes hear them
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_at = 0.0
        self.apply_config(config)

    def apply_config(self, config: Config) -> list[Change]:
        """Take a new (validated) config; bindings of extensions that are gone are dropped."""
        self.config = config
        self.directory = Directory(config)
        self.edges = tuple(ipaddress.ip_network(n) for n in config.cluster.edges) if config.cluster else ()
        reg = config.registration
        self.table.rules = Rules(reg.default_expires, reg.min_expires, reg.max_expires, reg.max_contacts)
        sec = config.security
        self.auth = DigestAuthenticator(
            self.secret, nonce_lifetime=sec.nonce_lifetime, algorithms=tuple(sec.auth_algorithms)
        )
        gone: list[Change] = []
        for b in self.table.all(self.clock()):
            passwords = self.directory.passwords.get(b.account)
            if passwords is None or b.extension not in passwords:
                gone += self.table.remove_aor(b.account, b.extension, "extension removed from config")
        self._changed(gone)
        return gone

    async def start(self) -> None:
        now = self.clock()
        self.table.load([binding_of_row(row) for row in await self.store.load_bindings(now)], now)
        self.apply_config(self.config)
        await self.store.purge_expired(now)
        self.writer.start()
        self._arm_expiry()
        log.info("registrar: %d bindings restored", len(self.table))

    def _changed(self, changes: Sequence[Change]) -> None:
        """Bindings this node changed: to the store (in batches), and to the other nodes."""
        if changes:
            self.writer.enqueue(changes)
            for change in changes:
                if isinstance(change, Saved):
                    self.learned.discard((change.binding.account, change.binding.extension, change.binding.key))
            if self.on_changes is not None:
                self.on_changes(changes)

    def learn(self, saved: Sequence[Binding], removed: Sequence[Binding]) -> None:
        """Bindings another node of the cluster changed (it stores them itself).  Notices of
        two nodes may cross: a phone's un-REGISTER handled by one node and its new REGISTER by
        another.  So a removal takes out only a binding no newer than the one removed, and a
        binding learnt never replaces a newer one of the same key."""
        now = self.clock()

        def newer_held(b: Binding) -> bool:
            held = next((c for c in self.table.lookup(b.account, b.extension, now) if c.key == b.key), None)
            return held is not None and held.registered_at > b.registered_at

        for b in removed:
            if not newer_held(b):
                self.table.forget(b)
                self.learned.discard((b.account, b.extension, b.key))
        taken = [b for b in saved if not newer_held(b)]
        self.table.load(taken, now)
        self.learned.update((b.account, b.extension, b.key) for b in taken)
        self._arm_expiry()

    async def _persist(self, changes: Sequence[Change]) -> None:
        await self.store.apply([_stored(change) for change in changes])

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self.writer.close()

    # --- REGISTER ---------------------------------------------------------
    def on_register(self, tx: ServerTransaction, request: Request, source: Target) -> None:
        now = self.clock()
        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri):
            raise RemoteProtocolError(f"To {to_uri} is not a sip: or sips: address of record")
        account = self.directory.account_for_host(to_uri.host)
        if account is None:
            self.respond(tx, make_response(request, 404, "Domain Not Served Here", to_tag=self.tag_factory()))
            return
        extension = to_uri.user_unescaped or ""
        shed = self._storm(account, extension, request.call_id, now) if request.get("Authorization") is None else None
        if shed is not None:
            resp = make_response(request, 503, shed.reason, to_tag=self.tag_factory())
            resp.add("Retry-After", str(shed.retry_after))
            self.respond(tx, resp)
            return
        if self.authenticate(tx, request, source, account, now, user=extension) is None:
            return
        if len(request.call_id) > MAX_CALL_ID:
            raise RemoteProtocolError(f"Call-ID longer than {MAX_CALL_ID} characters (a registration keeps it)")
        contacts = [_contact_request(c, source) for c in request.contacts]
        path = self.path(request, source)
        if "\x00" in request.call_id or any("\x00" in hop for hop in path):
            raise RemoteProtocolError("a NUL character in the Call-ID or Path cannot be kept in a registration")
        outcome = self.table.register(
            account.name, extension, contacts, star=request.is_star_contact, expires_header=request.expires,
            call_id=request.call_id, cseq=request.cseq.number, source=source,
            user_agent=request.get("User-Agent") or "", now=now, path=path,
        )
        resp = make_response(request, outcome.status, outcome.reason, to_tag=self.tag_factory())
        if outcome.status == 423 and outcome.min_expires is not None:
            resp.add("Min-Expires", str(outcome.min_expires))
        elif outcome.status == 200:
            for b in outcome.bindings:
                resp.headers.append(Header("Contact", f"{b.contact};expires={b.expires_in(now)}"))
            supported = [s.lower() for s in request.values("Supported")]
            if any(c.reg_id is not None for c in contacts) and "outbound" in supported:
                resp.add("Require", "outbound")
            if path and "path" in supported:  # RFC 3327 §5.3: the Path kept, echoed to a UA that supports it
                for hop in path:
                    resp.add("Path", hop)
            self.counters["registered"] += 1
        self.respond(tx, resp)
        if outcome.changes:
            self._changed(outcome.changes)
            for change in outcome.changes:
                b = change.binding
                level = logging.DEBUG if isinstance(change, Saved) and change.refreshed else logging.INFO
                verb = change.why if isinstance(change, Removed) else "refreshed" if level == logging.DEBUG else "registered"
                log.log(level, "%s@%s %s %s via %s %s:%s", b.extension, account.name, verb, b.uri, b.source.transport, b.source.host, b.source.port)
            self._arm_expiry()

    def challenge(self, peek: Peek, source: Target) -> StatelessRefusal | None:
        """The endpoint's ``challenge`` hook: a new REGISTER with neither credentials nor
        ``Require``, read from a glance (sip/peek.py), answered statelessly (RFC 3261 §8.2.7)
        as ``on_register`` answers it once parsed: a challenge, or the ``503`` of a storm.
        Half of a registrar's requests are these, and neither a full parse nor a transaction
        (kept 32 s) is needed to answer them.  None leaves the request to the full path: from
        an edge proxy of the cluster (its Vias say who sent it), or a Request-URI that is not
        sip: or sips:, or a To that is not the sip: address of a served domain."""
        if self.is_edge(source.host) or not peek.uri.lower().startswith(("sip:", "sips:")):
            return None
        try:
            to_uri = parse_name_addr(peek.to_value, "To").uri
        except RemoteProtocolError:
            return None
        if not isinstance(to_uri, SipUri):
            return None
        account = self.directory.account_for_host(to_uri.host)
        if account is None:
            return None
        now = self.clock()
        shed = self._storm(account, to_uri.user_unescaped or "", peek.call_id, now)
        if shed is not None:
            return StatelessRefusal(503, shed.reason, (("Retry-After", str(shed.retry_after)),))
        return StatelessRefusal(401, "Unauthorized", tuple(("WWW-Authenticate", value) for value in
                                                           self._challenged(source, account, now, stale=False)))

    def _storm(self, account: Account, extension: str, call_id: str, now: float) -> Shed | None:
        """A REGISTER without credentials shed while the switch is behind, unless it refreshes a
        binding (its Call-ID's)."""
        if self.admission is None or not self.admission.overloaded \
                or any(b.call_id == call_id for b in self.table.lookup(account.name, extension, now)):
            return None
        return self.admission.registration()

    def _challenged(self, source: Target, account: Account, now: float, *, stale: bool) -> list[str]:
        """The challenge's ``*-Authenticate`` values, counted (per source, for the guard's limit
        on unanswered challenges)."""
        self.counters["challenged"] += 1
        self.guard.challenged(source.host)
        return self.auth.challenges(account.domain, now, stale=stale)

    def authenticate(
        self, tx: ServerTransaction, request: Request, source: Target, account: Account, now: float,
        *, proxy: bool = False, user: str | None = None,
    ) -> str | None:
        """Digest authentication (RFC 3261 §22) against ``account``'s extensions, shared by
        REGISTER (401, ``WWW-Authenticate``) and calls (``proxy``: 407, ``Proxy-Authenticate``).
        Returns the authenticated extension, or None once the request has been answered: a
        challenge, or the one ``403`` every failure gets (throttled). ``user``: the extension
        the request acts for, which must be the authenticated one."""
        credentials, challenge, status = (
            ("Proxy-Authorization", "Proxy-Authenticate", 407) if proxy else ("Authorization", "WWW-Authenticate", 401))
        client, flow = self.client(request, source), source
        if client is not source:
            if self.guard.is_banned(client.host):  # banned behind the edge, whose own packets must flow
                self.respond(tx, make_response(request, 403, to_tag=self.tag_factory()))
                return None
            source = client
        offered = request.get_all(credentials)
        if offered:
            self.guard.answered(source.host)
        result = self.auth.verify(request.method, offered, account.domain, self.directory.passwords[account.name], now)
        if result.verdict is Verdict.MISSING or result.verdict is Verdict.STALE:
            resp = make_response(request, status, to_tag=self.tag_factory())
            for value in self._challenged(source, account, now, stale=result.verdict is Verdict.STALE):
                resp.add(challenge, value)
            self.respond(tx, resp)
            return None
        if result.verdict is Verdict.OK and user is not None and result.username != user:
            result = type(result)(Verdict.FAILED, result.username, f"user {result.username} may not {request.method} as {user}")
        if result.verdict is not Verdict.OK or result.username is None:
            self._auth_failed(tx, request, source, account, result.username, result.reason)
            return None
        self.guard.succeeded(source.host)
        self.on_authenticated(flow)
        return result.username

    def _auth_failed(self, tx: ServerTransaction, request: Request, source: Target, account: Account, user: str | None, why: str) -> None:
        """Unknown user, wrong password, replay: one answer for all (no enumeration)."""
        self.counters["auth_failed"] += 1
        log.warning("authentication failed from %s:%s for %r@%s: %s", source.host, source.port, user, account.name, why)
        if self.guard.failed(source.host):  # logged by the guard, with the counts
            self.counters["banned"] += 1
        self.respond(tx, make_response(request, 403, to_tag=self.tag_factory()))

    # --- behind an edge proxy (cluster mode) ------------------------------
    def is_edge(self, host: str) -> bool:
        return bool(self.edges) and _in_networks(host, self.edges)

    def path(self, request: Request, source: Target) -> tuple[str, ...]:
        """The Path (RFC 3327) an edge proxy of the cluster put on a REGISTER, first hop first;
        from anyone else it is ignored (a phone must not make the switch send its calls elsewhere)."""
        if not self.is_edge(source.host) or request.to.tag is not None:
            return ()
        path = tuple(str(hop) for value in request.get_all("Path") for hop in parse_name_addr_list(value, "Path"))
        if path and not self.is_edge(path_target(path[0], source).host):
            log.warning("REGISTER through %s:%s names a first hop outside the cluster's edges: %s; Path ignored",
                        source.host, source.port, path[0][:200])
            return ()
        return path

    def client(self, request: Request, source: Target) -> Target:
        """Who sent ``request``: its source, or, through an edge proxy, the address the edge saw
        it come from (``received``/``rport`` of the Via below the edge's, RFC 3581), so that a
        password guesser behind the edge is counted and banned, not the edge."""
        if not self.is_edge(source.host):
            return source
        vias = request.vias
        if len(vias) < 2:
            return source
        below = vias[1]
        host = below.param("received") or below.host
        rport = below.param("rport")
        port = int(rport) if rport and rport.isdigit() else below.port or 5060
        return Target(below.transport.upper(), host.strip("[]"), port)

    # --- expiry and flows -------------------------------------------------
    def _arm_expiry(self) -> None:
        """One timer for the earliest expiry; moved only when that comes earlier."""
        when = self.table.get_timer()
        if when is None or (self._expiry is not None and self._expiry_at <= when):
            return
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = when
        self._expiry = asyncio.get_running_loop().call_later(max(0.0, when - self.clock()) + 0.01, self._on_expiry)

    def _on_expiry(self) -> None:
        self._expiry = None
        gone = self.table.expire(self.clock())
        for change in gone:
            log.info("%s@%s expired %s", change.binding.extension, change.binding.account, change.binding.uri)
        self.writer.enqueue(gone)  # every node of a cluster expires a binding by itself: nothing to tell
        self._arm_expiry()

    def flow_closed(self, source: Target) -> None:
        gone = self.table.remove_flow(source, self.clock(), "connection closed")
        self._changed(gone)

    def flow_dead(self, source: Target) -> None:
        gone = self.table.remove_flow(source, self.clock(), "keep-alive unanswered")
        for change in gone:
            log.info("%s@%s dropped %s: keep-alives unanswered", change.binding.extension, change.binding.account, change.binding.uri)
        self._changed(gone)

    def keepalive_flows(self) -> dict[Target, Binding]:
        """One binding per flow that wants keep-alives under the configured mode."""
        mode = self.config.keepalive.mode
        flows: dict[Target, Binding] = {}
        if mode == "off":
            return flows
        held = self.table.all(self.clock())
        self.learned &= {(b.account, b.extension, b.key) for b in held}  # forget the ones expired meanwhile
        for b in held:
            if (mode == "all" or b.nat) and not b.path and (b.account, b.extension, b.key) not in self.learned:
                flows.setdefault(b.source, b)  # (behind an edge proxy, the edge keeps the phone's flow)
        return flows


# The store keeps its own rows (store/records.py): bindings are converted here, at the edge.
def row_of_binding(b: Binding) -> RegistrationRow:
    return RegistrationRow(
        b.account, b.extension, b.key, b.contact, b.uri, b.expires_at, b.registered_at, b.call_id, b.cseq,
        b.source, b.nat, b.instance, b.reg_id, b.q, b.user_agent, b.path,
    )


def _stored(change: Change) -> RegistrationChange:
    row = row_of_binding(change.binding)
    return RegistrationSaved(row) if isinstance(change, Saved) else RegistrationRemoved(row)


def binding_of_row(r: RegistrationRow) -> Binding:
    return Binding(
        r.account, r.extension, r.key, r.contact, r.uri, r.expires_at, r.registered_at, r.call_id, r.cseq,
        r.source, r.nat, r.instance, r.reg_id, r.q, r.user_agent, r.path,
    )
