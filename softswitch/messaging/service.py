"""Messages between phones (SIP MESSAGE outside a dialog, RFC 3428): the asyncio edge.

The transaction user for a MESSAGE without a To tag.  The sender authenticates as for a call
(digest, ``407``, the registrar's nonces and failure bans); the target is an extension or
alias of the sender's own account; the switch sends a MESSAGE of its own to each registered
device of the target (a new Call-ID, From the sender at the account's domain, To the target,
the body and Content-Type passed on), through the flow the device registered from, as calls
reach it.  What is refused, who gets it and what the sender is answered are decided in
``core.py``; this module reads the request, builds the requests and arms one timer per
message (the wait before ``202``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable

from ..config import Account, Config, Extension
from ..registrar.core import Binding
from ..registrar.service import RegistrarService
from ..sip.errors import RemoteProtocolError
from ..sip.headers import NameAddr
from ..sip.message import Header, Request, Response, make_response
from ..sip.transaction import ServerTransaction, Target
from ..sip.transport.endpoint import SipEndpoint
from ..sip.uri import SipUri, parse_uri
from .core import NOT_FOUND, UNAVAILABLE, Answer, Delivery, RateLimit, check_body, find_recipient, recipients, too_many

log = logging.getLogger(__name__)


class _Sending:
    """One message on its way: the sender's transaction until it is answered, and the timer."""

    __slots__ = ("id", "tx", "request", "delivery", "timer")

    def __init__(self, ident: str, tx: ServerTransaction, request: Request, delivery: Delivery) -> None:
        self.id = ident
        self.tx: ServerTransaction | None = tx
        self.request: Request | None = request
        self.delivery = delivery
        self.timer: asyncio.TimerHandle | None = None


class MessageService:
    def __init__(self, config: Config, registrar: RegistrarService, endpoint: SipEndpoint, *,
                 new_id: Callable[[], str], user_agent: str, clock: Callable[[], float] | None = None) -> None:
        self.registrar = registrar
        self.endpoint = endpoint
        self.new_id = new_id
        self.user_agent = user_agent
        self.loop = asyncio.get_running_loop()
        self.clock = clock or self.loop.time  # the monotonic clock of every timer, as calls use
        self.limit = RateLimit(config.messages.rate, config.messages.window)
        self.sending: dict[str, _Sending] = {}
        self.counters: Counter[str] = Counter()
        self.apply_config(config)

    def apply_config(self, config: Config) -> None:
        """Take a new config; the senders' counts so far stay."""
        self.config = config
        self.limit.limit, self.limit.window = config.messages.rate, config.messages.window

    def close(self) -> None:
        for sending in self.sending.values():
            if sending.timer is not None:
                sending.timer.cancel()
        self.sending.clear()

    # --- a phone's MESSAGE ---------------------------------------------------------------
    def on_message(self, tx: ServerTransaction, request: Request, source: Target) -> None:
        now = self.clock()
        self.counters["received"] += 1
        if request.max_forwards == 0:
            self._answer(tx, request, Answer(483, "Too Many Hops"))
            return
        sender_uri = request.from_.uri
        account = self.registrar.directory.account_for_host(sender_uri.host) if isinstance(sender_uri, SipUri) else None
        if account is None:
            self._answer(tx, request, Answer(403, "Unknown Domain"))
            return
        settings = self.config.messages
        refused = check_body(request.body, request.get("Content-Type"), settings.max_size)
        if refused is not None:
            self._answer(tx, request, refused)
            return
        username = self.registrar.authenticate(tx, request, source, account, self.registrar.clock(), proxy=True)
        sender = account.extension(username) if username is not None else None
        if sender is None:
            return
        wait = self.limit.take((account.name, sender.number), now)
        if wait is not None:
            self.counters["rate_limited"] += 1
            log.warning("message from %s@%s refused: more than %d in %.0f s", sender.number, account.name,
                        self.limit.limit, self.limit.window)
            self._answer(tx, request, too_many(wait))
            return
        if len(self.limit) > 1000:  # senders are authenticated extensions: few, but a reload may remove some
            self.limit.forget(now)
        target = self._target(account, request)
        if target is None:
            log.info("message from %s@%s to %s: no such extension", sender.number, account.name, request.uri)
            self._answer(tx, request, NOT_FOUND)
            return
        devices = recipients(self.registrar.table.lookup(account.name, target.number, self.registrar.clock()),
                             self.registrar.client(request, source), self.config.calls.max_forks)
        if not devices:
            log.info("message from %s@%s to %s: no registered device takes messages", sender.number, account.name,
                     target.number)
            self._answer(tx, request, UNAVAILABLE)
            return
        self._send(tx, request, account, sender, target, devices, now)

    def _target(self, account: Account, request: Request) -> Extension | None:
        """The extension the Request-URI names inside the sender's account.  A Request-URI at
        another account's domain is not found either: accounts never see each other."""
        uri = request.uri
        if not isinstance(uri, SipUri):
            return None
        addressed_to = self.registrar.directory.by_domain.get(uri.host.strip("[]").lower())
        if addressed_to is not None and addressed_to.name != account.name:
            return None
        return find_recipient(account.extensions, (uri.user_unescaped or "")[:64])

    def _send(self, tx: ServerTransaction, request: Request, account: Account, sender: Extension, target: Extension,
              devices: list[Binding], now: float) -> None:
        ident = self.new_id()
        sending = _Sending(ident, tx, request, Delivery(len(devices), now, self.config.messages.wait))
        self.sending[ident] = sending
        display = sender.display_name or request.from_.display_name
        log.info("message %s: %s@%s -> %s, %d bytes to %d device(s)", ident, sender.number, account.name, target.number,
                 len(request.body), len(devices))
        for index, binding in enumerate(devices):
            try:
                out = self._message(request, account, sender.number, display, target.number, binding)
            except RemoteProtocolError as exc:  # a stored contact that no longer reads: that device fails
                log.info("message %s: %s not sent: %s", ident, binding.uri, exc.reason)
                self._device_answered(sending, index, None)
                continue
            self.counters["sent"] += 1
            self.endpoint.send_request(out, binding.target, functools.partial(self._on_response, sending, index))
        if sending.tx is not None:
            self._arm(sending)

    def _message(self, request: Request, account: Account, sender: str, display: str | None, target: str,
                 binding: Binding) -> Request:
        """The switch's own MESSAGE to one device of the target (RFC 3428; RFC 3261 §8.1.1)."""
        shown = NameAddr(SipUri("sip", account.domain, sender), display or None, (("tag", self.new_id()),))
        headers = [
            Header("Via", self.endpoint.new_via(binding.target.transport)),
            Header("Max-Forwards", "70"),
            *[Header("Route", hop) for hop in binding.path],
            Header("From", str(shown)),
            Header("To", str(NameAddr(SipUri("sip", account.domain, target)))),
            Header("Call-ID", f"{self.new_id()}{self.new_id()}"),
            Header("CSeq", "1 MESSAGE"),
            Header("User-Agent", self.user_agent),
        ]
        content_type = request.get("Content-Type")
        if content_type is not None:
            headers.append(Header("Content-Type", content_type))
        headers.append(Header("Content-Length", str(len(request.body))))
        return Request("MESSAGE", parse_uri(binding.uri), headers, request.body)

    # --- the devices' answers --------------------------------------------------------------
    def _on_response(self, sending: _Sending, index: int, response: Response | None) -> None:
        if response is not None and response.status < 200:
            return
        if response is None:
            log.info("message %s: device %d did not answer", sending.id, index + 1)
        elif response.status >= 300:
            log.info("message %s: device %d answered %d", sending.id, index + 1, response.status)
        else:
            self.counters["delivered"] += 1
        self._device_answered(sending, index, None if response is None else response.status)

    def _device_answered(self, sending: _Sending, index: int, status: int | None) -> None:
        answer = sending.delivery.answered(index, status)
        if answer is not None:
            self._reply(sending, answer)
        if not sending.delivery.pending:
            self.sending.pop(sending.id, None)

    def _arm(self, sending: _Sending) -> None:
        due = sending.delivery.get_timer()
        if due is not None:
            sending.timer = self.loop.call_at(due, self._on_timer, sending)

    def _on_timer(self, sending: _Sending) -> None:
        sending.timer = None
        answer = sending.delivery.handle_timer(self.clock())
        if answer is not None:
            self._reply(sending, answer)
        else:
            self._arm(sending)

    def _reply(self, sending: _Sending, answer: Answer) -> None:
        if sending.timer is not None:
            sending.timer.cancel()
            sending.timer = None
        if sending.tx is None or sending.request is None:
            return
        log.info("message %s: sender answered %d %s", sending.id, answer.status, answer.reason)
        self._answer(sending.tx, sending.request, answer)
        sending.tx = sending.request = None  # the devices' late answers need neither

    def _answer(self, tx: ServerTransaction, request: Request, answer: Answer) -> None:
        if answer.status >= 300:
            self.counters[f"refused_{answer.status}"] += 1
        resp = make_response(request, answer.status, answer.reason, to_tag=self.new_id())
        if answer.retry_after is not None:
            resp.add("Retry-After", str(answer.retry_after))
        if answer.accept is not None:
            resp.add("Accept", answer.accept)
        self.endpoint.respond(tx, resp)


__all__ = ["MessageService"]
