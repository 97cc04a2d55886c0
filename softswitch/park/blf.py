"""BLF for park slots: SUBSCRIBE/NOTIFY (RFC 6665) with the dialog event package (RFC 4235).

Theory of operation
-------------------
A desk phone's BLF key for a slot subscribes to ``sip:801@domain`` or
``sip:*801@domain`` with ``Event: dialog``.  The phone authenticates as one of
the account's extensions (digest, ``401``); a phone of another account, or a
slot the account does not have, gets a refusal and learns nothing.  A
subscription is a dialog of its own: the ``200`` gives it our tag, and every
NOTIFY goes inside it with a growing CSeq and ``Subscription-State``.

Every NOTIFY carries the slot's *full* state (RFC 4235 §4.1, ``state="full"``,
a version counting up per subscription): one ``<dialog>`` for the slot,
``confirmed`` with the parked party's identity while a call is parked there,
``terminated`` when it is free.  So a phone that rebooted and subscribes again
(new Call-ID) knows the lamp's state from the first NOTIFY.

A refresh (SUBSCRIBE inside the dialog) extends the subscription and gets a
NOTIFY; ``Expires: 0`` ends it with a final NOTIFY (``terminated``); one that is
not refreshed in time ends with ``terminated;reason=timeout`` (RFC 6665 §4.2.2).
A NOTIFY answered with ``481`` (or not answered at all) ends the subscription.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ..config import Account, Config
from ..registrar.service import RegistrarService
from ..sip.dialog import Dialog
from ..sip.errors import RemoteProtocolError
from ..sip.headers import parse_name_addr
from ..sip.message import Header, Request, Response, make_response
from ..sip.transaction import ServerTransaction, Target
from ..sip.transport.endpoint import SipEndpoint
from ..sip.uri import SipUri
from .lot import Parked, slot_of

log = logging.getLogger(__name__)

EVENT = "dialog"
CONTENT_TYPE = "application/dialog-info+xml"
DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60
MAX_EXPIRES = 3600


def dialog_info(entity: str, version: int, slot_code: str, parked: Parked | None) -> bytes:
    """The full state of one slot as RFC 4235 dialog-info XML."""
    if parked is None:
        inner = f'  <dialog id={quoteattr(slot_code)}>\n    <state>terminated</state>\n  </dialog>\n'
    else:
        try:
            party = parse_name_addr(parked.party, "party")
            identity, display = str(party.uri), party.display_name
        except RemoteProtocolError:  # shown as it is
            identity, display = parked.party, None
        shown = f" display={quoteattr(display)}" if display else ""
        inner = (
            f'  <dialog id={quoteattr(slot_code)} call-id={quoteattr(parked.call)} direction="recipient">\n'
            "    <state>confirmed</state>\n"
            f"    <remote>\n      <identity{shown}>{escape(identity)}</identity>\n"
            f"      <target uri={quoteattr(entity)}/>\n    </remote>\n"
            f"    <local>\n      <identity>{escape(entity)}</identity>\n    </local>\n"
            "  </dialog>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" state="full" entity={quoteattr(entity)}>\n'
        f"{inner}</dialog-info>\n"
    ).encode()


@dataclass
class Subscription:
    account: str
    slot: int
    entity: str  # the slot's URI as the subscriber named it
    dialog: Dialog
    expires_at: float
    version: int = 0
    ended: bool = False
    timer: Any = field(default=None, repr=False)


class BlfService:
    """Subscriptions to park slots, notified on every change of their slot."""

    def __init__(self, config: Config, registrar: RegistrarService, endpoint: SipEndpoint, *,
                 new_id: Callable[[], str], state: Callable[[str, int], Parked | None], clock: Callable[[], float]) -> None:
        self.config = config
        self.registrar = registrar
        self.endpoint = endpoint
        self.new_id = new_id
        self.state = state
        self.clock = clock
        self.subscriptions: dict[tuple[str, str], Subscription] = {}  # (Call-ID, our tag)
        self.counters = {"subscribed": 0, "notified": 0, "refused": 0}

    def apply_config(self, config: Config) -> None:
        self.config = config

    def owns(self, request: Request) -> bool:
        return (request.call_id, request.to.tag or "") in self.subscriptions

    # --- SUBSCRIBE -----------------------------------------------------------------------
    def on_subscribe(self, tx: ServerTransaction, request: Request, source: Target) -> None:
        now = self.clock()
        if request.to.tag is not None:
            self._refresh(tx, request, now)
            return
        if (request.get("Event") or "").split(";")[0].strip().lower() != EVENT:
            resp = make_response(request, 489, to_tag=self.new_id())
            resp.add("Allow-Events", EVENT)
            self.endpoint.respond(tx, resp)
            return
        subscriber = request.from_.uri
        account = self.registrar.directory.account_for_host(subscriber.host) if isinstance(subscriber, SipUri) else None
        if account is None:
            self._refuse(tx, request, 403, "Unknown Domain")
            return
        username = self.registrar.authenticate(tx, request, source, account, now)
        if username is None:
            return
        slot = self._slot(account, request)
        if slot is None:
            self._refuse(tx, request, 404, "No Such Park Slot")
            return
        expires = self._expires(tx, request)
        if expires is None:
            return
        tag = self.new_id()
        dialog = Dialog.as_uas(request, tag, self.endpoint.contact(source.transport, "park"), source)
        sub = Subscription(account.name, slot, str(request.uri), dialog, now + expires)
        self._accept(tx, request, dialog, expires)
        self.counters["subscribed"] += 1
        log.info("BLF: %s@%s subscribed to *%d of %s for %d s", username, account.name, slot, account.name, expires)
        if expires == 0:  # a fetch: one NOTIFY, no subscription (RFC 6665 §4.4.3)
            self._notify(sub, "terminated;reason=timeout")
            return
        self.subscriptions[dialog.key] = sub
        self._notify(sub, f"active;expires={expires}")
        self._arm(sub)

    def _slot(self, account: Account, request: Request) -> int | None:
        """The slot the Request-URI names, in the subscriber's account only: a slot URI of
        another account's domain is refused as unknown."""
        uri = request.uri
        if not isinstance(uri, SipUri):
            return None
        owner = self.registrar.directory.by_domain.get(uri.host.lower())
        if owner is not None and owner.name != account.name:
            return None
        user = uri.user_unescaped or ""
        parks = [account.park, *[account.park.for_site(site) for site in account.sites]]
        for park in parks:
            slot = slot_of(user, park)
            if slot is not None and (user.startswith("*") or account.extension(user) is None):
                return slot
        return None

    def _expires(self, tx: ServerTransaction, request: Request) -> int | None:
        raw = request.get("Expires")
        try:
            expires = DEFAULT_EXPIRES if raw is None else int(raw.strip())
        except ValueError:
            self.endpoint.respond(tx, make_response(request, 400, "Bad Expires", to_tag=request.to.tag or self.new_id()))
            return None
        if 0 < expires < MIN_EXPIRES:
            resp = make_response(request, 423, to_tag=request.to.tag or self.new_id())
            resp.add("Min-Expires", str(MIN_EXPIRES))
            self.endpoint.respond(tx, resp)
            return None
        return min(max(expires, 0), MAX_EXPIRES)

    def _accept(self, tx: ServerTransaction, request: Request, dialog: Dialog, expires: int) -> None:
        resp = make_response(request, 200, to_tag=dialog.local_tag)
        resp.add("Expires", str(expires))
        resp.add("Contact", dialog.contact)
        resp.add("Content-Length", "0")
        self.endpoint.respond(tx, resp)

    def _refuse(self, tx: ServerTransaction, request: Request, status: int, reason: str) -> None:
        self.counters["refused"] += 1
        self.endpoint.respond(tx, make_response(request, status, reason, to_tag=self.new_id()))

    def _refresh(self, tx: ServerTransaction, request: Request, now: float) -> None:
        sub = self.subscriptions.get((request.call_id, request.to.tag or ""))
        if sub is None or sub.ended:
            self.endpoint.respond(tx, make_response(request, 481))
            return
        try:
            sub.dialog.accept(request)
        except RemoteProtocolError as exc:
            self.endpoint.respond(tx, make_response(request, exc.status_hint))
            return
        expires = self._expires(tx, request)
        if expires is None:
            return
        self._accept(tx, request, sub.dialog, expires)
        if expires == 0:
            self._end(sub, "terminated;reason=timeout")
            return
        sub.expires_at = now + expires
        self._notify(sub, f"active;expires={expires}")
        self._arm(sub)

    # --- NOTIFY ------------------------------------------------------------------------
    def slot_changed(self, account: str, slot: int, entry: Parked | None) -> None:
        """A call parked in, or left, ``slot``: every subscriber to it hears the new state."""
        now = self.clock()
        for sub in list(self.subscriptions.values()):
            if sub.account == account and sub.slot == slot and not sub.ended:
                self._notify(sub, f"active;expires={max(1, int(sub.expires_at - now))}", entry)

    def _notify(self, sub: Subscription, state: str, entry: Parked | None = None) -> None:
        parked = entry if entry is not None else self.state(sub.account, sub.slot)
        body = dialog_info(sub.entity, sub.version, f"*{sub.slot}", parked)
        sub.version += 1
        dialog = sub.dialog
        notify = dialog.request(
            "NOTIFY", self.endpoint.new_via(dialog.target.transport), body=body, content_type=CONTENT_TYPE,
            extra=[Header("Event", EVENT), Header("Subscription-State", state)],
        )
        self.counters["notified"] += 1
        self.endpoint.send_request(notify, dialog.target, lambda response: self._notified(sub, response))

    def _notified(self, sub: Subscription, response: Response | None) -> None:
        if response is None or response.status in (404, 405, 408, 481, 489, 501):
            self._drop(sub)

    def _arm(self, sub: Subscription) -> None:
        if sub.timer is not None:
            sub.timer.cancel()
        delay = max(0.0, sub.expires_at - self.clock())
        sub.timer = self.endpoint.loop.call_later(delay, self._end, sub, "terminated;reason=timeout")

    def _end(self, sub: Subscription, state: str) -> None:
        if sub.ended:
            return
        self._notify(sub, state)
        self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        sub.ended = True
        if sub.timer is not None:
            sub.timer.cancel()
            sub.timer = None
        self.subscriptions.pop(sub.dialog.key, None)

    def close(self) -> None:
        for sub in list(self.subscriptions.values()):
            self._end(sub, "terminated;reason=noresource")

    def listing(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{"account": s.account, "slot": f"*{s.slot}", "subscriber": s.dialog.remote_uri,
                 "expires_in": max(0, int(s.expires_at - now))} for s in self.subscriptions.values()]

