"""BLF: SUBSCRIBE/NOTIFY (RFC 6665) with the dialog event package (RFC 4235), for park slots
and extensions.

Theory of operation
-------------------
A desk phone's BLF key subscribes with ``Event: dialog`` to a park slot
(``sip:801@domain`` or ``sip:*801@domain``) or to an extension (``sip:102@domain``,
or its alias).  The phone authenticates as one of the account's extensions
(digest, ``401``); a phone of another account, or a slot or extension the account
does not have, gets the same ``404`` and learns nothing (not even whether the
number exists elsewhere).  A subscription is a dialog of its own: the ``200``
gives it our tag, and every NOTIFY goes inside it with a growing CSeq and
``Subscription-State``.

Every NOTIFY carries the resource's *full* state (RFC 4235 §4.1, ``state="full"``,
a version counting up per subscription; the documents are written by
``presence.dialog_info``).  So a phone that rebooted and subscribes again (new
Call-ID) knows the lamp's state from the first NOTIFY.

Where changes come from: the park service calls ``slot_changed`` when a call is
parked in or leaves a slot; the call service calls ``extensions_changed`` with the
extensions a call touches whenever it has run one of that call's inputs (and after
it ended).  An extension's dialogs are then computed again from the calls of its
account, once per turn of the event loop however many inputs came in it, and a
subscriber is notified only when what it would be told changed (the last document's
dialogs are kept per subscription).  Extensions a call no longer names (a parker
that left) are covered by looking again at every watched extension last seen busy.

A refresh (SUBSCRIBE inside the dialog) extends the subscription and gets a
NOTIFY; ``Expires: 0`` ends it with a final NOTIFY (``terminated``); one that is
not refreshed in time ends with ``terminated;reason=timeout`` (RFC 6665 §4.2.2).
A NOTIFY answered with ``481`` (or not answered at all) ends the subscription.

The same subscriptions carry message-waiting lamps (RFC 3842): a phone subscribes with
``Event: message-summary`` to its own address (another extension's mailbox gets the same
``404`` as a number that does not exist) and is told its mailbox's new and old counts at
once and at every change (``mailbox_changed``, from the mailboxes).  A phone that never
subscribes is told only where the account asks (``voicemail.unsolicited_mwi``, for phones
configured to expect it): a NOTIFY outside any dialog to each of its registered devices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import Account, Config
from ..config.moves import Moves, extension_moves
from ..park.lot import Parked, code, slot_of
from ..registrar.service import RegistrarService
from ..sip.dialog import Dialog
from ..sip.errors import RemoteProtocolError
from ..sip.headers import NameAddr
from ..sip.message import Header, Request, Response, make_response, new_request
from ..sip.transaction import ServerTransaction, Target
from ..sip.transport.endpoint import SipEndpoint
from ..sip.uri import SipUri, parse_uri
from .dialog_info import TERMINATED, CallView, DialogView, dialog_info, extension_dialogs, lamp, news, slot_dialogs
from .message_summary import CONTENT_TYPE as SUMMARY_TYPE
from .message_summary import EVENT as SUMMARY_EVENT
from .message_summary import message_summary

log = logging.getLogger(__name__)

EVENT = "dialog"
CONTENT_TYPE = "application/dialog-info+xml"
DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
TELL_EVERY = 600  # seconds between two warnings of one subscriber's subscriptions replaced


class Owned(Protocol):
    @property
    def account(self) -> str: ...  # the account's name


class AccountCall(CallView, Protocol):
    """A call as this service reads it: what dialog-info needs, and whose call it is."""

    @property
    def record(self) -> Owned: ...


@dataclass
class Subscription:
    account: str
    entity: str  # the resource's URI as the subscriber named it
    dialog: Dialog
    expires_at: float
    slot: int | None = None  # a park slot...
    extension: str | None = None  # ...or an extension (its number, also when watched by alias)
    mailbox: str | None = None  # ...or the subscriber's own mailbox (message-summary)
    subscriber: str | None = None  # the extension that subscribed
    version: int = 0
    ended: bool = False
    last: tuple[DialogView, ...] = ()  # what the last NOTIFY said
    timer: Any = field(default=None, repr=False)

    @property
    def watched(self) -> str:
        if self.mailbox is not None:
            return f"mailbox {self.mailbox}"
        return self.extension if self.extension is not None else code(self.slot or 0)


class DialogEventService:
    """Subscriptions to park slots and extensions, notified on every change of what they watch."""

    def __init__(self, config: Config, registrar: RegistrarService, endpoint: SipEndpoint, *,
                 new_id: Callable[[], str], slot_state: Callable[[str, int], Parked | None],
                 calls: Callable[[], Iterable[AccountCall]], clock: Callable[[], float]) -> None:
        self.config = config
        self.registrar = registrar
        self.endpoint = endpoint
        self.new_id = new_id
        self.slot_state = slot_state
        self.calls = calls
        self.clock = clock
        self.subscriptions: dict[tuple[str, str], Subscription] = {}  # (Call-ID, our tag)
        self.watchers: dict[tuple[str, str], list[Subscription]] = {}  # (account, extension) -> its subscriptions
        # (account, subscriber) -> its subscriptions, refreshed longest ago first: at most security.max_subscriptions
        self.held: dict[tuple[str, str], dict[tuple[str, str], Subscription]] = {}
        self._told: dict[tuple[str, str], float] = {}  # when a subscriber's replaced subscriptions were logged
        self._changed: dict[str, set[str]] = {}  # account -> extensions to look at again, this turn of the loop
        self.counters = {"subscribed": 0, "notified": 0, "refused": 0, "replaced": 0}
        self.mailbox_counts: Callable[[str, str], tuple[int, int]] = lambda account, mailbox: (0, 0)  # new, old

    def apply_config(self, config: Config, moves: Moves | None = None) -> None:
        """Take a new (validated) config.  Subscriptions follow a renumbered extension, whether
        it is watched (the phone's key keeps its URI; the lamp now shows the new number's calls)
        or subscribing; they end when what they watch is gone (``noresource``) or when their
        subscriber may no longer subscribe (``rejected``, RFC 6665 §4.1.3)."""
        moves = moves if moves is not None else extension_moves(self.config, config)
        self.config = config
        for sub in list(self.subscriptions.values()):
            account = config.account(sub.account)
            moved = moves.moved.get((sub.account, sub.subscriber)) if sub.subscriber is not None else None
            if moved is not None:
                self._release(sub)
                sub.subscriber = moved
                self._hold(sub)
            if account is None or (sub.subscriber is not None and account.extension(sub.subscriber) is None):
                self._end(sub, "terminated;reason=rejected")
            elif sub.mailbox is not None and account.extension(sub.mailbox) is None:
                sub.mailbox = sub.subscriber  # the subscriber's own mailbox, renumbered with it
                self._notify(sub, self._active(sub, self.clock()))
            elif sub.extension is not None and account.extension(sub.extension) is None:
                new = moves.moved.get((sub.account, sub.extension))
                if new is None:
                    self._end(sub, "terminated;reason=noresource")
                else:
                    self._unwatch(sub)
                    sub.extension = new
                    self.watchers.setdefault((sub.account, new), []).append(sub)
                    self._notify(sub, self._active(sub, self.clock()))

    def owns(self, request: Request) -> bool:
        return (request.call_id, request.to.tag or "") in self.subscriptions

    # --- SUBSCRIBE -----------------------------------------------------------------------
    def on_subscribe(self, tx: ServerTransaction, request: Request, source: Target) -> None:
        now = self.clock()
        if request.to.tag is not None:
            self._refresh(tx, request, now)
            return
        event = (request.get("Event") or "").split(";")[0].strip().lower()
        if event not in (EVENT, SUMMARY_EVENT):
            resp = make_response(request, 489, to_tag=self.new_id())
            resp.add("Allow-Events", f"{EVENT}, {SUMMARY_EVENT}")
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
        slot, extension, mailbox = None, None, None
        if event == SUMMARY_EVENT:
            mailbox = self._own_mailbox(account, request, username)
            if mailbox is None:
                self._refuse(tx, request, 404, "Not Found")  # another's mailbox: as a number that does not exist
                return
        else:
            slot, extension = self._resource(account, request)
            if slot is None and extension is None:
                self._refuse(tx, request, 404, "Not Found")  # the same for a slot and an extension
                return
        expires = self._expires(tx, request)
        if expires is None:
            return
        tag = self.new_id()
        dialog = Dialog.as_uas(request, tag, self.endpoint.contact(source.transport, "park"), source)
        sub = Subscription(account.name, str(request.uri), dialog, now + expires, slot=slot, extension=extension,
                           mailbox=mailbox, subscriber=username)
        self._accept(tx, request, dialog, expires)
        self.counters["subscribed"] += 1
        log.info("%s: %s@%s subscribed to %s of %s for %d s", "MWI" if mailbox else "BLF", username, account.name,
                 sub.watched, account.name, expires)
        if expires == 0:  # a fetch: one NOTIFY, no subscription (RFC 6665 §4.4.3)
            self._notify(sub, "terminated;reason=timeout")
            return
        self._make_room(sub)
        self.subscriptions[dialog.key] = sub
        if extension is not None:
            self.watchers.setdefault((account.name, extension), []).append(sub)
        self._notify(sub, f"active;expires={expires}")
        self._arm(sub)

    def _make_room(self, sub: Subscription) -> None:
        """Hold a new ``sub`` among its subscriber's subscriptions; past
        ``security.max_subscriptions`` the one refreshed longest ago ends (``rejected``: not to
        be tried again, RFC 6665 §4.1.3), as the binding refreshed longest ago does past
        ``max_contacts``.  A phone that reboots leaves its old subscriptions behind until they
        expire (up to an hour), and one that subscribes again and again (a bug, or a stolen
        password) would hold memory, and NOTIFYs on every change, without bound."""
        assert sub.subscriber is not None
        held = self.held.get((sub.account, sub.subscriber), {})
        most = self.config.security.max_subscriptions
        while len(held) >= most:
            oldest = next(iter(held.values()))
            self.counters["replaced"] += 1
            now = self.clock()
            if now - self._told.get((sub.account, sub.subscriber), -TELL_EVERY) >= TELL_EVERY:
                self._told[(sub.account, sub.subscriber)] = now
                log.warning("%s@%s holds %d subscriptions (security.max_subscriptions): the oldest are ended to make "
                            "room (first: to %s; told once per %d s)", sub.subscriber, sub.account, len(held),
                            oldest.watched, TELL_EVERY)
            self._end(oldest, "terminated;reason=rejected")
        self._hold(sub)

    def _hold(self, sub: Subscription) -> None:
        """``sub`` as its subscriber's subscription refreshed last (added, or moved to the end)."""
        if sub.subscriber is not None:
            held = self.held.setdefault((sub.account, sub.subscriber), {})
            held.pop(sub.dialog.key, None)
            held[sub.dialog.key] = sub

    def _release(self, sub: Subscription) -> None:
        if sub.subscriber is not None:
            key = (sub.account, sub.subscriber)
            held = self.held.get(key)
            if held is not None and held.pop(sub.dialog.key, None) is not None and not held:
                del self.held[key]

    def _own_mailbox(self, account: Account, request: Request, username: str) -> str | None:
        """The subscriber's mailbox, when the Request-URI names the subscriber (its number or
        alias, in its own account's domain or none); None for anyone else's."""
        uri = request.uri
        if not isinstance(uri, SipUri):
            return None
        owner = self.registrar.directory.by_domain.get(uri.host.lower())
        me = account.extension(username)
        if (owner is not None and owner.name != account.name) or me is None:
            return None
        return me.number if (uri.user_unescaped or "") in (me.number, me.alias) else None

    def _resource(self, account: Account, request: Request) -> tuple[int | None, str | None]:
        """The slot or extension the Request-URI names, in the subscriber's account only: a URI
        of another account's domain is refused as unknown.  A number that is both an
        extension and a slot (``801`` without the star) is the extension."""
        uri = request.uri
        if not isinstance(uri, SipUri):
            return None, None
        owner = self.registrar.directory.by_domain.get(uri.host.lower())
        if owner is not None and owner.name != account.name:
            return None, None
        user = uri.user_unescaped or ""
        if not user.startswith("*"):
            ext = account.extension(user) or next((e for e in account.extensions if e.alias == user), None)
            if ext is not None:
                return None, ext.number
        parks = [account.park, *[account.park.for_site(site) for site in account.sites]]
        for park in parks:
            slot = slot_of(user, park)
            if slot is not None:
                return slot, None
        return None, None

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
        self._hold(sub)  # refreshed: the last to make room
        sub.expires_at = now + expires
        self._notify(sub, f"active;expires={expires}")
        self._arm(sub)

    # --- what changed ----------------------------------------------------------------------
    def slot_changed(self, account: str, slot: int, entry: Parked | None) -> None:
        """A call parked in, or left, ``slot``: every subscriber to it hears the new state."""
        now = self.clock()
        for sub in list(self.subscriptions.values()):
            if sub.account == account and sub.slot == slot and not sub.ended:
                parked = entry if entry is not None else self.slot_state(account, slot)
                self._notify(sub, self._active(sub, now), slot_dialogs(sub.entity, code(slot), parked))

    def extensions_changed(self, account: str, extensions: set[str]) -> None:
        """A call of ``account`` touching ``extensions`` ran: look at the watched ones again
        once this turn of the event loop is over (cheap when nobody watches)."""
        if not self.watchers:
            return
        changed = self._changed.get(account)
        if changed is None:
            if not self._changed:
                self.endpoint.loop.call_soon(self._look_again)
            changed = self._changed[account] = set()
        changed.update(extensions)

    def _look_again(self) -> None:
        changed, self._changed = self._changed, {}
        now = self.clock()
        for account, extensions in changed.items():
            # Watched extensions the calls name, and those last seen busy (they may have left a call).
            numbers = {n for (acc, n), subs in self.watchers.items() if acc == account
                       and (n in extensions or any(lamp(s.last) != TERMINATED for s in subs))}
            if not numbers:
                continue
            calls = [c for c in self.calls() if c.record.account == account]
            for number in numbers:
                for sub in list(self.watchers.get((account, number), ())):
                    dialogs = self._extension_dialogs(sub, calls)
                    if news(dialogs, sub.last) and not sub.ended:
                        self._notify(sub, self._active(sub, now), dialogs)

    def _extension_dialogs(self, sub: Subscription, calls: Iterable[CallView]) -> tuple[DialogView, ...]:
        assert sub.extension is not None
        account = self.config.account(sub.account)
        ext = account.extension(sub.extension) if account is not None else None
        return extension_dialogs(sub.extension, calls, entity=sub.entity, display=ext.display_name if ext else None)

    def _dialogs(self, sub: Subscription) -> tuple[DialogView, ...]:
        """What ``sub`` watches, now."""
        if sub.extension is not None:
            return self._extension_dialogs(sub, (c for c in self.calls() if c.record.account == sub.account))
        slot = sub.slot or 0
        return slot_dialogs(sub.entity, code(slot), self.slot_state(sub.account, slot))

    # --- NOTIFY ------------------------------------------------------------------------
    @staticmethod
    def _active(sub: Subscription, now: float) -> str:
        return f"active;expires={max(1, int(sub.expires_at - now))}"

    def mailbox_changed(self, account: str, mailbox: str, counts: tuple[int, int]) -> None:
        """A message came or went: the mailbox's subscribers hear its counts (or, with none and
        where the account asks, its registered devices)."""
        now = self.clock()
        subs = [s for s in self.subscriptions.values() if s.account == account and s.mailbox == mailbox and not s.ended]
        for sub in subs:
            self._notify(sub, self._active(sub, now))
        owner = self.config.account(account)
        if not subs and owner is not None and owner.voicemail.unsolicited_mwi:
            self._unsolicited(owner, mailbox, counts)

    def _unsolicited(self, account: Account, mailbox: str, counts: tuple[int, int]) -> None:
        address = str(NameAddr(SipUri("sip", account.domain, mailbox)))
        body = message_summary(f"sip:{mailbox}@{account.domain}", *counts)
        for binding in self.registrar.table.lookup(account.name, mailbox, self.registrar.clock()):
            try:
                notify = new_request("NOTIFY", parse_uri(binding.uri), self.endpoint.new_via(binding.target.transport),
                                     f"{address};tag={self.new_id()}", address, f"{self.new_id()}{self.new_id()}",
                                     [Header("Event", SUMMARY_EVENT), Header("Subscription-State", "active")],
                                     body, SUMMARY_TYPE, route=binding.path)
            except RemoteProtocolError:
                continue
            self.counters["notified"] += 1
            log.info("MWI: %s of %s: %d new, %d old (unsolicited NOTIFY to %s)", mailbox, account.name, *counts, binding.uri)
            self.endpoint.send_request(notify, binding.target, lambda response: None)

    def _summary(self, sub: Subscription, state: str) -> None:
        assert sub.mailbox is not None
        account = self.config.account(sub.account)
        domain = account.domain if account is not None else "invalid"
        new, old = self.mailbox_counts(sub.account, sub.mailbox)
        dialog = sub.dialog
        notify = dialog.request(
            "NOTIFY", self.endpoint.new_via(dialog.target.transport),
            body=message_summary(f"sip:{sub.mailbox}@{domain}", new, old), content_type=SUMMARY_TYPE,
            extra=[Header("Event", SUMMARY_EVENT), Header("Subscription-State", state)],
        )
        self.counters["notified"] += 1
        log.debug("MWI: mailbox %s of %s: %d new, %d old (NOTIFY to %s)", sub.mailbox, sub.account, new, old,
                  dialog.remote_uri)
        self.endpoint.send_request(notify, dialog.target, lambda response: self._notified(sub, response))

    def _notify(self, sub: Subscription, state: str, dialogs: tuple[DialogView, ...] | None = None) -> None:
        if sub.mailbox is not None:
            self._summary(sub, state)
            return
        sub.last = dialogs if dialogs is not None else self._dialogs(sub)
        body = dialog_info(sub.entity, sub.version, sub.last)
        sub.version += 1
        dialog = sub.dialog
        notify = dialog.request(
            "NOTIFY", self.endpoint.new_via(dialog.target.transport), body=body, content_type=CONTENT_TYPE,
            extra=[Header("Event", EVENT), Header("Subscription-State", state)],
        )
        self.counters["notified"] += 1
        log.debug("BLF: %s of %s is %s (NOTIFY %d to %s)", sub.watched, sub.account, lamp(sub.last), sub.version - 1,
                  dialog.remote_uri)
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
        self._release(sub)
        self._unwatch(sub)

    def _unwatch(self, sub: Subscription) -> None:
        if sub.extension is not None:
            key = (sub.account, sub.extension)
            subs = [s for s in self.watchers.get(key, ()) if s is not sub]
            if subs:
                self.watchers[key] = subs
            else:
                self.watchers.pop(key, None)

    def close(self) -> None:
        for sub in list(self.subscriptions.values()):
            self._end(sub, "terminated;reason=noresource")

    def listing(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{"account": s.account, "kind": "mailbox" if s.mailbox is not None else "extension" if s.extension is not None
                 else "slot", "watched": s.watched,
                 "state": lamp(s.last), "subscriber": s.dialog.remote_uri, "expires_in": max(0, int(s.expires_at - now))}
                for s in self.subscriptions.values()]
