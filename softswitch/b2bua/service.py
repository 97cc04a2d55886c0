"""The call service: the transaction user for INVITE and in-dialog requests.

It authenticates the caller (``407`` digest challenge, the same accounts,
nonces and failure throttle as the registrar), asks the dialplan where the
dialled number goes, opens a relay session on the media endpoint, and runs
the pure ``Call``: its actions become responses, client transactions, raw
sends, relay updates and, when the call ends, a call history row written
behind.  One timer per call, re-armed after every input.  In-dialog requests
and ACKs find their call by (Call-ID, our tag).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import sms, sounds, voicemail_notify
from ..config import Account, Config, Extension
from ..config.moves import Moves, extension_moves
from ..config.schema import Park, Trunk, parse_destination
from ..dialplan.menu import MenuRun
from ..dialplan.resolve import normalise
from ..histogram import Histogram
from ..hosts import HostCache
from ..mailboxes import Mailboxes
from ..media.audio import Sound, SoundError, load
from ..media.endpoint import MediaEndpoint
from ..media.ports import PortsExhausted
from ..media.recorder import RecordedFile, digest
from ..media.rtpengine import LegCounters, RtpEngine
from ..overload import Admission, Shed, Shedding
from ..park.lot import Parked, Refused, slot_of
from ..park.service import ParkService
from ..registrar.service import RegistrarService
from ..sdp.offer_answer import event_payload, relay_view, stream_address
from ..sip.errors import RemoteProtocolError
from ..sip.headers import parse_replaces
from ..sip.message import Request, Response, make_response
from ..sip.transaction import ClientTransaction, ServerTransaction, State, Target
from ..sip.transport.endpoint import SipEndpoint, StatelessRefusal
from ..sip.uri import SipUri
from ..store import Store
from ..store.records import MessageRow, RecordingRow
from ..store.writer import BatchWriter
from . import monitor, peers, pickup
from .actions import (
    Action,
    Announce,
    BindDialog,
    CallEnded,
    Deafen,
    Detach,
    Device,
    Locality,
    MediaPorts,
    MessageHeard,
    MessageTaken,
    ParkExpired,
    ParkWanted,
    Phase,
    Play,
    Ref,
    Respond,
    Route,
    SendRaw,
    SendRequest,
    SetMedia,
    Stage,
    StopPlaying,
    Supervise,
    TakeMessage,
    ToggleRecording,
    TransferFailed,
    TransferWanted,
)
from .attendant import attendant_of
from .browsers import Browsers, is_browser
from .call import Call
from .confirm import Confirm
from .handover import voice
from .media_plane import stays_on_relay
from .monitor import Monitor
from .parking import CallPark
from .record import CallRecord
from .recording import RecordingKey, mode_of, recorded
from .routing import HuntMemory, Refusal, Router, count_usage, remembered
from .transfer import Transfer
from .voicemail import FILE, Listening, Mailbox, greeting

log = logging.getLogger(__name__)

MIN_MESSAGE = 1.0  # seconds: a shorter voicemail message is nobody speaking
GREETING, GREETING_NEW = "greeting.wav", "greeting-new.wav"  # a mailbox's own greeting, and one being said


def _holds(call: Call, response: Response) -> bool:
    """Whether the dialog ``response`` made is one of the call's legs now."""
    tag = response.to.tag
    return any(d is not None and d.call_id == response.call_id and d.remote_tag == tag
               for d in (call.a, call.b, *call.others.values()))


class CallService:
    def __init__(
        self, config: Config, registrar: RegistrarService, endpoint: SipEndpoint, media: MediaEndpoint,
        store: Store, park: ParkService, *, new_id: Callable[[], str], user_agent: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.park = park
        self.registrar = registrar
        self.endpoint = endpoint
        self.media = media
        self.browsers = Browsers(media)  # browser phones' WebRTC descriptions, converted at the edge
        self.is_peer: Callable[[Target], bool] = lambda source: False  # another node of the cluster (trusted)
        self.engine: RtpEngine | None = None  # media.engine: rtpengine (``use_engine``)
        self._engine_down_until = 0.0  # rtpengine failed a call: the relay takes new calls until then
        self.new_id = new_id
        self.user_agent = user_agent
        self.loop = endpoint.loop
        # Two clocks: every call timer runs on the loop's monotonic clock (as the SIP layer's
        # do); registrations, the park lot, time rules and the history are wall-clock time.
        self.clock = self.loop.time
        self.wall = wall_clock
        self.calls: dict[str, Call] = {}  # by record id
        self.started_with: dict[str, Config] = {}  # by record id: the config when the call began
        self.dialogs: dict[tuple[str, str], tuple[Call, str]] = {}
        self.keys: dict[str, list[tuple[str, str]]] = {}  # record id -> its dialog keys, to unbind at the end
        self.invites: dict[str, list[tuple[ClientTransaction, Ref]]] = {}  # record id -> its forks' INVITEs
        self.timers: dict[str, Any] = {}
        self.phases: dict[str, Phase] = {}  # record id -> the call's phase when last looked at
        self.hosts = HostCache(self.loop)
        self.memory = HuntMemory()
        self.router = Router(config, registrar.table.lookup, self.memory, busy=self._busy, address=self.hosts.address,
                             shuffle=random.shuffle)
        self.writer: BatchWriter[CallRecord] = BatchWriter(
            lambda records: store.add_calls([r.row() for r in records]), config.store.flush_interval, "call records")
        self.sms = sms.WebhookSms(config.sms) if config.sms is not None else None
        self._tasks: set[asyncio.Task[None]] = set()  # park slot claims, texts: kept until done
        self.counters = {"calls": 0, "answered": 0, "ended": 0, "sms_sent": 0, "sms_failed": 0, "stray_acks": 0, "relay_lost": 0,
                         "recordings_failed": 0, "messages_failed": 0}
        self.outcomes: Counter[str] = Counter()  # ended calls by disposition
        # Session setup (RFC 6076 §4.3, "Session Request Delay"): from the authenticated INVITE
        # to the caller's first 18x or 2xx.
        self.setting_up: dict[str, float] = {}  # record id -> when its INVITE was taken (not yet ringing)
        self.messages: dict[str, TakeMessage] = {}  # record id -> the message (or greeting) its caller is saying
        self.mailboxes = Mailboxes(store)
        self.setup_latency = Histogram()
        self.admission = Admission(_shedding(config), random.randint)
        media.on_dead = self._media_dead
        media.on_digit = self._key_pressed
        media.on_silence = self._silence
        # BLF (presence.service): told, after each input of a call, which extensions it touches.
        self.on_change: Callable[[str, set[str]], None] | None = None
        self._do: dict[type[Any], Callable[[Call, Any], None]] = {
            Respond: self._respond,
            SendRequest: self._send_request,
            SendRaw: lambda call, a: self.endpoint.send_raw(a.target, a.data),
            SetMedia: self._set_media,
            BindDialog: self._bind,
            CallEnded: lambda call, a: self._finish(call),
            ParkWanted: self._park,
            Play: self._play,
            Announce: self._announce,
            StopPlaying: lambda call, a: self._media_of(call).stop_playing(call.record.id, a.leg),
            ToggleRecording: self._toggle_recording,
            Supervise: self._supervised,
            TakeMessage: self._take_message,
            MessageTaken: lambda call, a: self._keep_message(call, a.kept),
            MessageHeard: self._message_heard,
            Detach: lambda call, a: self._media_of(call).detach(call.record.id, a.leg),
            Deafen: lambda call, a: self._media_of(call).deafen(call.record.id, a.leg, a.deaf),
            ParkExpired: lambda call, a: self._park_expired(call),
            Route: self._routed,
            TransferWanted: self._transfer,
            TransferFailed: lambda call, a: self._transfer_failed(call),
        }

    def use_engine(self, engine: RtpEngine) -> None:
        """Two-party calls' media through rtpengine from now on (``media.engine``)."""
        self.engine = engine
        engine.on_dead = self._media_dead
        engine.on_digit = self._key_pressed

    def _on_engine(self, rid: str) -> RtpEngine | None:
        """rtpengine, if it carries this call's media (and not only passes it to the relay)."""
        if self.engine is None:
            return None
        call = self.engine.calls.get(rid)
        return self.engine if call is not None and not call.chained else None

    def _media_home(self, call: Call) -> None:
        """The caller of a call rtpengine took, not answered by anyone, now needs the switch's
        own media (its fallback mailbox, a menu): the relay's ports replace rtpengine's when the
        caller was shown none of them yet; else (early media) rtpengine passes the caller's
        media to and from the relay's leg a, where the switch speaks and listens."""
        rid = call.record.id
        engine = self._on_engine(rid)
        if engine is None or call.offer is None:
            return
        try:
            session = self.media.open(rid)
        except PortsExhausted as exc:
            log.error("call %s: its caller's media stays with rtpengine: %s", rid, exc)
            return
        address = self.config.media.advertised_address or self.media.address
        if "a" not in call.sdp_sent:
            call.media = MediaPorts(address, session.relay_ports("a"), session.relay_ports("b"))
            self.media.set_announced(rid, "a", stream_address(call.offer), event_payload(call.offer))
            engine.let_go(rid)
            log.info("call %s: its media moves to the switch's relay", rid)
            return
        own = session.relay_ports("a")
        engine_call = engine.calls[rid]
        engine.chain(rid, relay_view(call.offer, self.media.address, own))
        self.media.set_announced(rid, "a", (engine_call.address, engine_call.ports["b"].rtp), event_payload(call.offer))
        log.info("call %s: rtpengine passes its caller's media to the switch's relay", rid)

    def _media_of(self, call: Call) -> MediaEndpoint | RtpEngine:
        """What carries the call's media: rtpengine, or the switch's own relay."""
        return self._on_engine(call.record.id) or self.media

    def _set_media(self, call: Call, action: SetMedia) -> None:
        rid = call.record.id
        if (engine := self._on_engine(rid)) is not None:
            if action.session is not None:
                engine.update(rid, action.leg, action.session)
            return
        if action.leg == "a" and self.engine is not None and rid in self.engine.calls:
            # Chained: rtpengine passes the caller's media to the relay's leg a.  A new session
            # of the caller's is rtpengine's to follow; the relay keeps receiving from rtpengine.
            if action.session is not None:
                self.engine.update(rid, "a", action.session)
            self.media.set_announced(rid, "a", None, action.events)
            return
        self.media.set_announced(rid, action.leg, action.address, action.events)

    def _records(self, account: Account) -> bool:
        """Whether any call of ``account`` may be recorded (by its mode, or an extension's,
        a group's or a hotline's)."""
        return (account.recording.mode != "never" or any(e.recording not in (None, "never") for e in account.extensions)
                or any(g.recording == "always" for g in account.groups)
                or any(h.recording == "always" for h in account.hotlines))

    def _ring_through_engine(self, call: Call, account: Account, stages: Sequence[Stage], now: float) -> bool:
        """Ring ``stages`` once rtpengine has the call's ports (True), or leave the call to the
        switch's relay (False)."""
        if self.engine is None or now < self._engine_down_until:
            return False
        self._run(call, call.accept(now))  # 100, its dialog, its offer read (or the call refused)
        if call.phase is not Phase.RINGING:
            return True
        why = stays_on_relay(call.offer, stages, browser_caller=is_browser(call.source), records=self._records(account),
                             websocket=any(spec.transport in ("ws", "wss") for spec in self.config.server.listen))
        if why is not None:
            log.info("call %s: media on the switch's relay (%s)", call.record.id, why)
            return False
        self._spawn(self._engine_then_ring(call, list(stages)))
        return True

    async def _engine_then_ring(self, call: Call, stages: list[Stage]) -> None:
        assert self.engine is not None and call.offer is not None
        rid = call.record.id
        try:
            address, a, b = await self.engine.open(rid, call.offer)
        except Exception as exc:  # NgError, or anything else: the call still rings
            log.warning("call %s: rtpengine did not take it (%s): its media, and that of new calls for %g s, on the "
                        "switch's relay", rid, exc, ENGINE_BACKOFF)
            self._engine_down_until = self.clock() + ENGINE_BACKOFF  # no call waits on a silent rtpengine meanwhile
            address, a, b = None, None, None
        if rid not in self.calls:  # cancelled meanwhile
            if address is not None:
                await self.engine.close(rid)
            return
        if address is not None and a is not None and b is not None:
            self.media.close(rid)  # its own ports, unused: no SDP named them yet
            call.media = MediaPorts(address, a, b)  # rtpengine's own (its --interface says what it advertises)
        self._run(call, call.start(stages, self.clock()))

    async def start(self) -> None:
        self.writer.start()
        # Plans count minutes per calendar month: this month's outside calls so far (a day before
        # the UTC month's start covers every time zone's month).
        now = dt.datetime.fromtimestamp(self.wall(), dt.UTC)
        since = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() - 86400
        count_usage(self.router.usage, self.config, await self.store.list_calls(since=since))
        await self.mailboxes.start()
        await self.hosts.use(t.host for t in self.config.trunks)  # before the first call needs them

    async def close(self) -> None:
        for call in list(self.calls.values()):
            self._run(call, call.hang_up(self.clock(), "switch", "switch shutting down"))
        if self._tasks:  # the last calls' texts, claims and rows waiting on a digest or rtpengine's counters
            await asyncio.wait(self._tasks, timeout=max(5.0, self.engine.close_time + 1 if self.engine else 0.0))
            late = [task for task in self._tasks if not task.done()]
            for task in late:  # a row still waiting is written without what it waited for (its ``finally``)
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.writer.close()
        if self.sms is not None:
            await self.sms.close()
        await self.hosts.close()

    def apply_config(self, config: Config, moves: Moves | None = None) -> int:
        """Take a new (validated) config; the calls of the extensions ``moves`` says were
        stopped end (a renumbered extension's calls go on).  Returns how many calls ended."""
        if config.sms != self.config.sms:
            old, self.sms = self.sms, sms.WebhookSms(config.sms) if config.sms is not None else None
            if old is not None:
                self._spawn(old.close())
        moves = moves if moves is not None else extension_moves(self.config, config)
        self._move_mailboxes(self.config, config, moves)
        self.config = config
        self.router.config = config
        self.admission.configure(_shedding(config))
        self.hosts.use_soon(t.host for t in config.trunks)
        ending = [call for call in self.calls.values()
                  if any(moves.is_stopped(call.record.account, n) for n in call.extensions.values())]
        for call in ending:
            log.info("call %s ends: an extension on it was stopped", call.record.id)
            self._run(call, call.hang_up(self.clock(), "switch", "extension stopped"))
        for call in list(self.calls.values()):  # a supervisor no longer named (or stopped) stops listening
            watching = call.feature(Monitor)
            if watching is not None and watching.on and not self._may_supervise(call, watching):
                log.info("call %s: %s is no longer a supervisor of its agent: let go", call.record.id, watching.supervisor)
                self._run(call, watching.leave(call, self.clock(), bye=True))
        return len(ending)

    def _move_mailboxes(self, old: Config, new: Config, moves: Moves) -> None:
        """A renumbered extension's messages and greeting follow it; a stopped one's go."""
        for (name, number), to in moves.moved.items():
            before, after = old.account(name), new.account(name)
            if before is not None and after is not None:
                self._spawn(self.mailboxes.renumber(name, number, to, _mailbox_directory(before, number),
                                                    _mailbox_directory(after, to)))
        for name, numbers in moves.stopped.items():
            if (account := old.account(name)) is not None:
                for number in numbers:
                    self._spawn(self.mailboxes.remove(name, number, _mailbox_directory(account, number)))

    def _may_supervise(self, call: Call, watching: Monitor) -> bool:
        account = self.config.account(call.record.account)
        number = call.extensions.get(watching.agent_leg)
        agent = account.extension(number) if account is not None and number else None
        return (agent is not None and account is not None and account.extension(watching.supervisor) is not None
                and _supervises(account, watching.supervisor, agent))

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """A spawned job ended: one that failed is logged (its exception would be lost)."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a call's background job failed: %r", task.exception(), exc_info=task.exception())

    def _locality(self) -> Locality:
        return Locality({t: self.endpoint.via_address(t) for t in self.endpoint.local}, self.user_agent)

    # --- a new INVITE -----------------------------------------------------------
    def shed_invite(self, source: Target, waited: float | None) -> StatelessRefusal | None:
        """The endpoint's ``shed`` hook, for every new INVITE before its transaction (and so
        before authentication, routing or relay ports, and for most before it is even
        parsed: refusing costs the least): the stateless ``503`` for a call refused because
        the switch is behind (``waited``: how long the INVITE waited in the kernel, None when
        not known) or short of relay ports, or None."""
        shed = self.admission.pressure(self.clock(), self.media.pool.free, waited)
        if shed is None:
            return None
        self._log_shed(shed)
        return StatelessRefusal(503, shed.reason, (("Retry-After", str(shed.retry_after)),))

    def on_invite(self, tx: ServerTransaction, request: Request, source: Target) -> None:
        self.browsers.inbound(request, source)
        now, wall = self.clock(), self.wall()
        trunk = next((t for t in self.config.trunks if source.host in t.trusted), None)
        if trunk is not None:
            if not self._shed(tx, request, self.admission.rate(now)):
                self._inbound(tx, request, source, trunk, now)
            return
        caller_uri = request.from_.uri
        account = self.registrar.directory.account_for_host(caller_uri.host) if isinstance(caller_uri, SipUri) else None
        if account is None:
            self.endpoint.respond(tx, make_response(request, 403, "Unknown Domain", to_tag=self.new_id()))
            return
        if self.is_peer(source):
            self._from_peer(tx, request, source, account, now, wall)
            return
        username = self.registrar.authenticate(tx, request, source, account, wall, proxy=True)
        caller = account.extension(username) if username is not None else None
        if caller is None or self._shed(tx, request, self.admission.rate(now)):
            return
        if self._replaces(tx, request, source, account, caller, now) or self._pick_up(tx, request, source, account, caller, now) \
                or self._pick_up_elsewhere(tx, request, source, account, caller, now) \
                or self._ringing_pick_up(tx, request, source, account, caller, now) \
                or self._supervise(tx, request, source, account, caller, now) \
                or self._listen(tx, request, source, account, caller, now):
            return
        record = CallRecord(
            id=self.new_id(), account=account.name, caller=caller.number, callee=_dialled(request),
            direction="internal", started=wall, caller_device=request.get("User-Agent") or f"{source.host}:{source.port}",
            caller_person=caller.person,
        )
        call = self._new_call(tx, request, source, record)
        if call is not None:
            call.extensions["a"] = caller.number
            self._route(call, account, caller, record, request, now)

    def _shed(self, tx: ServerTransaction, request: Request, shed: Shed | None) -> bool:
        """A new call refused for its rate (``overload.max_call_rate``), in its transaction."""
        if shed is None:
            return False
        self.endpoint.respond(tx, self._refusal(request, shed))
        return True

    def _log_shed(self, shed: Shed) -> None:
        """At the 1st, 10th, 100th... call shed for one reason."""
        count = self.admission.shed[shed.why]
        if count in (1, 10, 100, 1000, 10000, 100000):
            log.warning("overload: new calls shed with 503 (%s: %d so far; delay %.0f ms, %d free port pairs)", shed.why,
                        count, self.admission.delay * 1000, self.media.pool.free)

    def _refusal(self, request: Request, shed: Shed) -> Response:
        """The ``503`` for a call shed in its transaction, with its spread Retry-After."""
        self._log_shed(shed)
        refusal = make_response(request, 503, shed.reason, to_tag=self.new_id())
        refusal.add("Retry-After", str(shed.retry_after))
        return refusal

    def _new_call(self, tx: ServerTransaction, request: Request, source: Target, record: CallRecord) -> Call | None:
        try:
            session = self.media.open(record.id)
        except PortsExhausted as exc:
            log.error("call %s refused: %s", record.id, exc)
            self.endpoint.respond(tx, make_response(request, 503, "No Media Ports", to_tag=self.new_id()))
            return None
        ports = MediaPorts(self.config.media.advertised_address or self.media.address,
                           session.relay_ports("a"), session.relay_ports("b"))
        try:
            call = Call(
                record=record, invite=request, tx=tx, source=source, locality=self._locality(), media=ports,
                new_id=self.new_id, new_branch=self.endpoint.layer.new_branch,
                t1=self.config.timers.t1, t2=self.config.timers.t2, wall_offset=self.wall() - self.clock(),
            )
        except Exception:  # e.g. a malformed Record-Route: the endpoint answers 400; the ports go back
            self.media.close(record.id)
            raise
        account = self.config.account(record.account)
        # Every call can be parked (REFER to a park code, or the code typed) and transferred.
        call.add(CallPark(account.park.code if account is not None else None, functools.partial(self._is_park_code, record.account)))
        call.add(Transfer(account.transfer.blind_code if account is not None else None))
        if account is not None:  # and recorded on demand by its code (the service checks who may)
            call.add(RecordingKey(account.recording.key))
        tx.user_data = call
        self.calls[record.id] = call
        self.setting_up[record.id] = self.clock()
        self.started_with[record.id] = self.config  # whose numbers were whose when it began
        self.counters["calls"] += 1
        return call

    def _inbound(self, tx: ServerTransaction, request: Request, source: Target, trunk: Trunk, now: float) -> None:
        """A call from a provider: the dialled number is a hotline (SPEC "Trunks")."""
        # Providers name the hotline in the Request-URI, or (when they send calls to the
        # registered Contact) in the To header.
        to_uri = request.to.uri
        candidates = [_dialled(request)] + ([to_uri.user_unescaped or ""] if isinstance(to_uri, SipUri) else [])
        dialled = candidates[0]
        found = self.router.inbound(trunk, candidates, self.wall())
        if found is None:
            log.info("trunk %s: no hotline %r", trunk.name, dialled)
            self.endpoint.respond(tx, make_response(request, 404, "No Such Hotline", to_tag=self.new_id()))
            return
        account, hotline, destination = found.account, found.hotline, found.destination
        caller = request.from_.uri
        caller_number = (caller.user_unescaped or "") if isinstance(caller, SipUri) else str(caller)
        record = CallRecord(
            id=self.new_id(), account=account.name, caller=normalise(caller_number, self.config.numbering)[:64],
            callee=destination, direction="inbound", hotline=hotline.number, started=self.wall(),
            caller_device=f"trunk {trunk.name}", path=[f"hotline {hotline.number}"],
        )
        call = self._new_call(tx, request, source, record)
        if call is None:
            return
        log.info("call %s: hotline %s from %s -> %s@%s (%s)", record.id, hotline.number, record.caller, destination, account.name,
                 found.why)
        self._go(call, account, destination, now)

    def _go(self, call: Call, account: Account, destination: str, now: float) -> None:
        """Send a call where a scenario or a menu says (SPEC "Hotlines, scenarios and menus"),
        and note the step in the call's path."""
        kind, target = parse_destination(destination)
        path = call.record.path
        if kind in ("menu", "announcement", "voicemail"):
            self._media_home(call)
        if kind == "menu" and (menu := account.menu(target)) is not None:
            path.append(f"menu {target}")
            numbers = [e.number for e in account.extensions]
            self._run(call, attendant_of(call).run_menu(call, MenuRun(menu, numbers), now))
        elif kind == "announcement":
            path.append(f"announcement {target}")
            self._run(call, attendant_of(call).announce(call, (target,), now))
        elif kind == "voicemail" and (owner := account.extension(target)) is not None:
            path.append(f"voicemail {target}")
            settings = account.voicemail
            mailbox = call.feature(Mailbox) or call.add(Mailbox(owner.number, settings.max_seconds), first=True)
            own = _mailbox_directory(account, owner.number) / GREETING
            greets = FILE + str(own) if own.is_file() else settings.greeting
            self._run(call, mailbox.take(call, greeting(owner.number, greets), now))
        elif kind == "number":
            path.append(f"group {target}" if account.group(target) is not None else target)
            if (owner := account.extension(target)) is not None and self._has_mailbox(account, owner):
                call.fallback = f"voicemail:{owner.number}"
            self._ring(call, account, self.router.destination(account, target, self.wall()), now)
        elif kind == "external" and (group := account.external_group(target)) is not None:
            path.append(f"external {target}")
            stages = self.router.external(account, group, call.record.hotline, call.record.caller, self.wall())
            if any(s.confirm for s in stages) and call.feature(Confirm) is None:
                call.add(Confirm())
            self._ring(call, account, stages, now)
        else:  # hangup (or a menu removed by a reload)
            path.append("hangup")
            if call.phase is Phase.RINGING:
                self._run(call, call.reject(480, "Temporarily Unavailable", "no answer", "the scenario hangs up", now))
            else:
                self._run(call, call.hang_up(now, "switch", "the menu hangs up", disposition="no answer"))

    def _ring(self, call: Call, account: Account, stages: list[Stage], now: float) -> None:
        """Ring ``stages`` for a caller a scenario or a menu sent there (through rtpengine if it
        may carry the call)."""
        if call.phase is Phase.RINGING and self._ring_through_engine(call, account, stages, now):
            return
        self._run(call, self._ring_for_caller(call, stages, now))

    @staticmethod
    def _ring_for_caller(call: Call, stages: list[Stage], now: float) -> list[Action]:
        """Ring ``stages``: at once if the caller still rings, else with music (a menu chose)."""
        if call.phase is Phase.RINGING:
            return call.start(stages, now)
        return attendant_of(call).ring(call, stages, now)

    def _route(self, call: Call, account: Account, caller: Extension, record: CallRecord, request: Request, now: float) -> None:
        uri = request.uri
        addressed_to = self.registrar.directory.by_domain.get(uri.host.lower()) if isinstance(uri, SipUri) else None
        route = self.router.route(account, caller, record.callee, self.wall(), addressed_to=addressed_to)
        callee = account.extension(route.extension) if route.extension is not None else None
        mailbox = callee is not None and self._has_mailbox(account, callee)
        if isinstance(route, Refusal) and mailbox and callee is not None:  # do not disturb
            log.info("call %s: %s@%s dialled %s: %s; to its mailbox", record.id, caller.number, account.name, callee.number,
                     route.cause)
            self._go(call, account, f"voicemail:{callee.number}", now)
            return
        if isinstance(route, Refusal):
            level = logging.WARNING if route.warn else logging.INFO
            log.log(level, "call %s: %s@%s dialled %s: refused %d: %s", record.id, caller.number, account.name, uri,
                    route.status, route.cause)
            self._run(call, call.reject(route.status, route.reason, "failed", route.cause, now))
            return
        record.direction = route.direction
        if route.step is not None:
            record.path.append(route.step)
        log.info("call %s: %s@%s -> %s (%s)", record.id, caller.number, account.name, route.callee,
                 route.via or ", then ".join(f"{len(s.devices)} x {s.label}" for s in route.stages) or "nobody to ring")
        if mailbox and callee is not None:
            call.fallback = f"voicemail:{callee.number}"
        if not self._ring_through_engine(call, account, route.stages, now):
            self._run(call, call.start(route.stages, now))

    def _routed(self, call: Call, route: Route) -> None:
        """A menu chose (a key, or its fallback)."""
        account = self.config.account(call.record.account)
        now = self.clock()
        if account is None:  # removed by a reload
            self._run(call, call.hang_up(now, "switch", "account removed"))
            return
        log.info("call %s: %s -> %s", call.record.id, route.why, route.destination)
        self._go(call, account, route.destination, now)

    def _busy(self, account: str) -> set[str]:
        """Extensions of ``account`` on a call now: answered or parked legs, and callers waiting."""
        busy: set[str] = set()
        for call in self.calls.values():
            if call.record.account != account:
                continue
            legs = ("a",) if call.phase is Phase.RINGING else ("a", "b")
            busy.update(n for leg in legs if (n := call.extensions.get(leg)) is not None)
        return busy

    # --- inside calls -------------------------------------------------------------
    def _find(self, request: Request) -> tuple[Call, str] | None:
        """The call and leg an in-dialog request belongs to: Call-ID and our tag (To)."""
        return self.dialogs.get((request.call_id, request.to.tag or ""))

    def on_in_dialog(self, tx: ServerTransaction, request: Request) -> None:
        found = self._find(request)
        if found is None:
            self.endpoint.respond(tx, make_response(request, 481))
            return
        call, leg = found
        self.browsers.inbound(request, tx.target)
        self._run(call, call.on_request(leg, tx, request, self.clock()))

    def on_cancel(self, request: Request, invite: ServerTransaction | None) -> None:
        call = invite.user_data if invite is not None else None
        if isinstance(call, Call):
            self._run(call, call.on_cancel(self.clock(), request.get("Reason"), invite))

    def on_ack(self, request: Request, source: Target) -> None:
        """An ACK no transaction took (for a 2xx): its call's, by dialog; else dropped, counted."""
        found = self._find(request)
        if found is None:
            self.counters["stray_acks"] += 1
            return
        call, leg = found
        self.browsers.inbound(request, source)
        self._run(call, call.on_ack(leg, request, self.clock()))

    def _on_response(self, call: Call, ref: Ref, target: Target, request: Request, response: Response | None) -> None:
        if response is not None:
            self.browsers.inbound(response, target)
        self._run(call, call.on_response(ref, response, self.clock()))
        if response is not None and 200 <= response.status < 300 and call.record.id in self.calls and _holds(call, response):
            # the core took this answer (not a fork that lost, nor one it hung up): its phone is on the leg
            self.browsers.answered(request, response, target, call.record.id, call.media)

    def _key_pressed(self, session_id: str, leg: str, key: str) -> None:
        call = self.calls.get(session_id)
        if call is not None:
            self._run(call, call.on_key(leg, key, self.clock()))

    def _silence(self, session_id: str) -> None:
        call = self.calls.get(session_id)
        if call is not None:
            log.info("call %s: the caller has been silent for the mailbox's time", session_id)
            self._run(call, call.silent(self.clock()))

    def _media_dead(self, session_id: str) -> None:
        call = self.calls.get(session_id)
        if call is not None:
            timeout = self.config.media.inactivity_timeout
            log.info("call %s: no RTP either way for %g s: hanging up", session_id, timeout)
            self._run(call, call.hang_up(self.clock(), "switch", f"no RTP for {timeout:g} s"))

    # --- running a call's actions ---------------------------------------------------------
    def _run(self, call: Call, actions: list[Action]) -> None:
        rid = call.record.id
        for action in actions:  # what each kind of action means: a table (__init__)
            self._do[type(action)](call, action)
        if rid in self.calls:
            self._phase_seen(call)
            self._arm(call)
        if self.on_change is not None:  # also once the call is gone: its extensions may be idle now
            forks = (f.device.member or call.stages[f.stage].extension for f in call.forks)
            self.on_change(call.record.account, {n for n in (*call.extensions.values(), *forks) if n})

    def _respond(self, call: Call, action: Respond) -> None:
        self.browsers.outbound(action.response, action.tx.target, call.record.id, call.media)
        self.endpoint.respond(action.tx, action.response)
        if 180 <= action.response.status < 300 and action.tx is call.tx:
            started = self.setting_up.pop(call.record.id, None)
            if started is not None:
                self.setup_latency.observe(self.clock() - started)

    def _send_request(self, call: Call, action: SendRequest) -> None:
        self.browsers.outbound(action.request, action.target, call.record.id, call.media)
        tx = self.endpoint.send_request(action.request, action.target,
                                        functools.partial(self._on_response, call, action.ref, action.target, action.request))
        if action.ref.kind == "invite":
            self.invites.setdefault(call.record.id, []).append((tx, action.ref))

    def _bind(self, call: Call, action: BindDialog) -> None:
        self.dialogs[action.key] = (call, action.leg)
        self.keys.setdefault(call.record.id, []).append(action.key)

    def _phase_seen(self, call: Call) -> None:
        """What follows from a call changing phase: its relay's inactivity check applies while
        it is answered (a parked party may send nothing); a call picked up empties its slot."""
        rid = call.record.id
        before, after = self.phases.get(rid, Phase.RINGING), call.phase
        if before is after:
            return
        self.phases[rid] = after
        self._media_of(call).activate(rid, after is Phase.ANSWERED)
        if before in (Phase.RINGING, Phase.ATTENDED) and after is Phase.ANSWERED:
            self.counters["answered"] += 1
            taken = next((f for f in call.forks if f.dialog is not None and f.dialog is call.b), None)
            group = call.stages[taken.stage].group if taken is not None else None
            who = call.extensions["b"] or call.record.answered_by
            if group is not None and who:
                self.memory.answered(call.record.account, group, who)  # rrmemory
            self._record(call, group)
        if self._pauses_recording(call) and Phase.PARKED in (before, after):
            self.media.pause_recording(rid, after is Phase.PARKED)
        if before is Phase.PARKED and after is Phase.ANSWERED:
            park, entry = self._park_settings(call)
            if entry is not None:
                self.park.release(entry.account, entry.slot, self.wall(), picked_up=True, window=park.repark_window)
                log.info("call %s picked up from %s by %s", rid, entry.code, call.record.retrieved_by)

    # --- recording -------------------------------------------------------------------
    def _record(self, call: Call, group: str | None) -> None:
        """Start recording a call just answered, if one of its parties asks for it."""
        record, wall = call.record, self.wall()
        account = self.config.account(record.account)
        if account is None:
            return
        extensions = []
        for number in {call.extensions.get("a"), call.extensions.get("b") or record.answered_by}:
            extension = account.extension(number) if number else None
            if extension is not None:  # its plan is read only where it would record
                asks = mode_of(extension.recording, account.recording.mode) == "always"
                extensions.append((extension.recording, asks and self._may_record(account, extension, wall)))
        rang = account.group(group) if group else None
        hotline = next((h for h in account.hotlines if h.number == record.hotline), None) if record.hotline else None
        others = [rang.recording if rang else None, hotline.recording if hotline else None]
        if recorded(account.recording.mode, extensions, others) and self._start_recording(call, account) \
                and account.recording.announce:
            self._say(call, account, account.recording.announce)

    def _say(self, call: Call, account: Account, name: str) -> None:
        """Both parties hear a prompt once (not hearing each other meanwhile): "This call may be
        recorded."  Nothing waits for its end."""
        try:
            prompt = _sound(account, name)
        except (SoundError, KeyError) as exc:
            log.error("call %s: cannot play %r: %s", call.record.id, name, exc)
            return
        for leg in ("a", "b"):
            self.media.announce(call.record.id, leg, [prompt], voice(call, leg), lambda: None)

    def _may_record(self, account: Account, extension: Extension, wall: float) -> bool:
        plans = self.router.allowance(account, extension, wall)
        return plans is None or plans.refuses_feature("recording") is None

    def _start_recording(self, call: Call, account: Account) -> bool:
        rid = call.record.id
        if self._on_engine(rid) is not None:
            self.counters["recordings_failed"] += 1
            log.warning("call %s not recorded: rtpengine carries its media (media.engine)", rid)
            return False
        directory = (account.recording.directory or Path("recordings") / account.name).absolute()  # the row names it
        path = directory / f"{rid}.wav"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            started = self.media.record(rid, path)
        except OSError as exc:
            self.counters["recordings_failed"] += 1
            log.error("call %s not recorded: %s", rid, exc)
            return False
        if started:
            log.info("call %s recorded to %s", rid, path)
        return started

    def _toggle_recording(self, call: Call, action: ToggleRecording) -> None:
        """An extension typed the recording code: start the call's recording, or pause it, or
        go on with it, if the extension records on demand and its plan has recording."""
        rid, wall = call.record.id, self.wall()
        account = self.config.account(call.record.account)
        number = call.extensions.get(action.leg)
        extension = account.extension(number) if account is not None and number else None
        key = call.feature(RecordingKey)
        if account is None or extension is None or key is None:
            return
        if mode_of(extension.recording, account.recording.mode) != "on_demand" or not self._may_record(account, extension, wall):
            log.info("call %s: %s typed the recording code but does not record on demand (or its plan has no recording)",
                     rid, extension.number)
            return
        if not self.media.recording(rid):
            if self._start_recording(call, account):
                key.paused = False
            return
        key.paused = not key.paused
        self.media.pause_recording(rid, key.paused)
        log.info("call %s: recording %s by %s", rid, "paused" if key.paused else "resumed", extension.number)

    def _pauses_recording(self, call: Call) -> bool:
        """Whether parking pauses this call's recording (and the pick-up resumes it: unless its
        extension paused it by its code)."""
        account, key = self.config.account(call.record.account), call.feature(RecordingKey)
        return (account is None or account.recording.pause_when_parked) and not (key is not None and key.paused)

    async def _finish_recording(self, record: CallRecord, file: RecordedFile) -> None:
        """The history row of a recorded call, once its file's SHA-256 is known."""
        try:
            sha256 = await asyncio.to_thread(digest, file.path)
        except OSError as exc:
            log.error("call %s: recording %s unreadable: %s", record.id, file.path, exc)
        else:
            record.recording = RecordingRow(str(file.path), file.seconds, file.size, sha256)
        self.writer.enqueue([record])

    def _finish(self, call: Call) -> None:
        rid = call.record.id
        for key in self.keys.pop(rid, ()):
            if self.dialogs.get(key, (None, ""))[0] is call:  # not a dialog handed to another call
                del self.dialogs[key]
        self.calls.pop(rid, None)
        self.phases.pop(rid, None)
        self.setting_up.pop(rid, None)
        started_with = self.started_with.pop(rid, self.config)
        self.park.call_ended(rid, self.wall())
        self.browsers.forget(rid)
        timer = self.timers.pop(rid, None)  # (a session timer, a ring timeout: the call is gone)
        if timer is not None:
            timer.cancel()
        account = self.config.account(call.record.account)
        if account is not None:  # leastrecent: idle from now
            self.memory.idle(account.name, remembered(account, (*call.extensions.values(), call.record.answered_by)),
                             self.wall())
        self._let_go(call)
        self._keep_message(call)  # a voicemail message is the mailbox's, not the call's recording
        file = self.media.stop_recording(rid)
        session = self.media.close(rid)
        record = call.record
        if session is not None:
            for leg, media in (("a", record.media_a), ("b", record.media_b)):
                relay_leg = session.relay.legs[leg]
                stats = relay_leg.received
                media.packets_in, media.packets_out = stats.packets, relay_leg.sent_packets
                media.lost, media.jitter_ms = stats.lost, round(stats.jitter_ms, 3)
        if self._on_engine(rid) is not None:  # its counters are rtpengine's: the row waits for them
            self._spawn(self._close_on_engine(call, started_with, file))
            return
        if self.engine is not None:  # it may have passed the caller's media on to the relay
            self.engine.let_go(rid)
        self._close_record(call, started_with, file)

    async def _close_on_engine(self, call: Call, started_with: Config, file: RecordedFile | None) -> None:
        assert self.engine is not None
        try:
            counters = await self.engine.close(call.record.id)
            if counters is not None:  # what rtpengine took in from each leg's phone, and so sent to the other's
                a, b = counters.get("a", LegCounters()), counters.get("b", LegCounters())
                call.record.media_a.packets_in, call.record.media_a.packets_out = a.packets, b.packets
                call.record.media_b.packets_in, call.record.media_b.packets_out = b.packets, a.packets
        finally:
            self._close_record(call, started_with, file)

    def _close_record(self, call: Call, started_with: Config, file: RecordedFile | None) -> None:
        """The ended call's history row: who answered, the people's names, usage; written."""
        rid, record = call.record.id, call.record
        if record.answered_by is not None and record.answered_by not in record.path:
            record.path.append(record.answered_by)
        if record.callee_person is None:
            number = record.answered_by or record.callee
            record.callee_person = _person(started_with, record.account, number) or _person(self.config, record.account, number)
        self._text_members(call)
        self.counters["ended"] += 1
        self.counters["relay_lost"] += max(0, record.media_a.lost) + max(0, record.media_b.lost)
        count_usage(self.router.usage, self.config, [record])
        self.outcomes[record.disposition] += 1
        log.info("call %s ended: %s, %s by %s (%s), billed %d s", rid, record.disposition, record.callee,
                 record.hangup_by, record.cause, record.billed_seconds)
        if file is None:
            self.writer.enqueue([record])
        else:
            self._spawn(self._finish_recording(record, file))

    def _text_members(self, call: Call) -> None:
        """Each member of an external group with ``sms`` that was rung gets a text: the call
        missed, or taken by that member (SPEC "Groups")."""
        rec = call.record
        account = self.config.account(rec.account)
        if account is None or self.sms is None:
            return

        def texted(group: str | None) -> bool:
            kind, _, name = (group or "").partition(":")
            external = account.external_group(name) if kind == "external" else None
            return external is not None and external.sms

        rung = dict.fromkeys(f.device.member for f in call.forks if f.device.member and texted(call.stages[f.stage].group))
        brand = account.brand or account.name
        when = datetime.fromtimestamp(rec.started, account.zone)
        for member in rung:
            took = rec.answered is not None and member == rec.answered_by
            text = sms.answered(brand, rec.caller) if took else sms.missed(brand, rec.caller, when)
            self._spawn(self._send_text(rec.id, str(member), text, brand))

    async def _send_text(self, rid: str, to: str, text: str, brand: str) -> None:
        sender = self.sms
        if sender is None:
            return
        try:
            await sender.send(to, text, brand)
        except sms.SmsError as exc:
            self.counters["sms_failed"] += 1
            log.warning("call %s: text to %s failed: %s", rid, to, exc)
            return
        self.counters["sms_sent"] += 1
        log.info("call %s: texted %s: %s", rid, to, text)

    def _let_go(self, call: Call) -> None:
        """Transactions outlive their call by up to 32 s (RFC 6026 Timers L and M). They must not
        keep the ended call alive: at a few hundred calls a second, thousands of dead calls
        would wait for the garbage collector, whose passes over them stall the loop."""
        if call.tx is not None and call.tx.user_data is call:
            call.tx.user_data = None
        for tx, ref in self.invites.pop(call.record.id, ()):
            if tx.state is State.ACCEPTED:
                # Only a retransmitted 2xx can still come: ACK it again, with the bytes we sent.
                fork = call.forks[ref.fork]
                tx.user_data = functools.partial(self._ack_again, fork.device.target, fork.ack) if fork.ack else None
            # A fork still ringing (its CANCEL crossing a 200) keeps the call to ACK and BYE it.

    def _ack_again(self, target: Target, ack: bytes, response: Response | None) -> None:
        if response is not None and 200 <= response.status < 300:
            self.endpoint.send_raw(target, ack)

    def _arm(self, call: Call) -> None:
        rid = call.record.id
        handle = self.timers.pop(rid, None)
        if handle is not None:
            handle.cancel()
        when = call.get_timer()
        if when is None:
            return
        delay = max(0.0, when - self.clock())
        self.timers[rid] = self.loop.call_later(delay, self._fire, call)

    def _fire(self, call: Call) -> None:
        self.timers.pop(call.record.id, None)
        self._run(call, call.handle_timer(self.clock()))

    # --- call park -------------------------------------------------------------------------
    def _parker(self, call: Call, leg: str) -> tuple[Account, Extension] | None:
        account = self.config.account(call.record.account)
        number = call.extensions.get(leg)
        extension = account.extension(number) if account is not None and number else None
        return (account, extension) if account is not None and extension is not None else None

    def _park(self, call: Call, wanted: ParkWanted) -> None:
        """A REFER to a park code: choose the slot now (or refuse), record it in the store,
        then tell the call it is parked (SPEC "Call park")."""
        now, wall = self.clock(), self.wall()
        rid = call.record.id
        who = self._parker(call, wanted.parker_leg)
        if who is None:
            self._run(call, self._parking(call).refused(call, 403, "Only Phones Of The Account Can Park", now))
            return
        account, parker = who
        plans = self.router.allowance(account, parker, wall)
        refused = plans.refuses_feature("park") if plans is not None else None
        if refused is not None:
            log.info("call %s: park by %s@%s refused: %s", rid, parker.number, account.name, refused)
            self._run(call, self._parking(call).refused(call, 403, f"Forbidden ({refused})", now))
            return
        park = account.park_for(parker)
        requested = None if wanted.target == park.code else slot_of(wanted.target, park)
        if requested is None and wanted.target != park.code:
            log.info("call %s: REFER to %r is not a park code of %s; blind transfer is not supported", rid, wanted.target, account.name)
            self._run(call, self._parking(call).refused(call, 501, "Transfer Target Not Supported", now))
            return
        entry = Parked(account.name, requested or 0, rid, wall, wall + park.expiry, parker.number,
                       call.identity(wanted.parked_leg))
        taken = self.park.take(account.name, park, entry, requested, wall)
        if isinstance(taken, Refused):
            log.info("call %s: park by %s@%s refused: %s", rid, parker.number, account.name, taken.reason)
            self._run(call, self._parking(call).refused(call, taken.status, taken.reason, now))
            return
        self._run(call, self._parking(call).accepted(call))
        self._spawn(self._claim(call, account, park, entry, requested))

    async def _claim(self, call: Call, account: Account, park: Park, entry: Parked, requested: int | None) -> None:
        outcome = await self.park.record(account.name, park, entry, requested, self.wall())
        rid = call.record.id
        if isinstance(outcome, Refused):
            self._run(call, self._parking(call).refused(call, outcome.status, outcome.reason, self.clock()))
            return
        if rid not in self.calls:  # the call ended while the store was asked
            self.park.call_ended(rid, self.wall())
            return
        log.info("call %s parked at %s of %s by %s (expires in %g s)", rid, outcome.code, account.name, outcome.parker, park.expiry)
        now = self.clock()
        expires_at = now + outcome.expires_at - self.wall()  # the lot's wall-clock expiry on the call's clock
        self._run(call, self._parking(call).parked(call, outcome.code, expires_at, outcome.parker, now))

    def _park_settings(self, call: Call) -> tuple[Park, Parked | None]:
        """The park settings of a parked call (its parker's site's) and its slot."""
        entry = self.park.lot.of_call(call.record.id)
        account = self.config.account(call.record.account)
        if account is None:  # removed by a reload: the defaults
            return Park(), entry
        return account.park_for(account.extension(entry.parker) if entry is not None else None), entry

    def _is_park_code(self, account_name: str, extension: str | None, target: str) -> bool:
        """Whether ``target`` parks, for ``extension``'s site (a REFER to anything else transfers)."""
        account = self.config.account(account_name)
        if account is None:
            return False
        park = account.park_for(account.extension(extension) if extension else None)
        return target == park.code or slot_of(target, park) is not None

    @staticmethod
    def _parking(call: Call) -> CallPark:
        """The call's park feature (every call has one, registered when it is made)."""
        return call.feature(CallPark) or call.add(CallPark())

    def _play(self, call: Call, play: Play) -> None:
        park, _ = self._park_settings(call)
        account = self.config.account(call.record.account)
        music = account.sound_file(park.music) if account is not None and park.music else sounds.music_on_hold()
        if (engine := self._on_engine(call.record.id)) is not None:
            engine.play(call.record.id, play.leg, music, repeat=True)
            return
        try:
            self.media.play_music(call.record.id, play.leg, load(music), play.pt)
        except SoundError as exc:
            log.error("call %s: cannot play music on hold: %s", call.record.id, exc)

    def _announce(self, call: Call, announce: Announce) -> None:
        rid, leg = call.record.id, announce.leg

        def done() -> None:
            if rid in self.calls:
                self._run(call, call.announced(leg, self.clock()))

        account = self.config.account(call.record.account)
        if (engine := self._on_engine(rid)) is not None:
            try:
                files = [_sound_path(account, name) for name in announce.prompts]
            except KeyError as exc:
                log.error("call %s: cannot play prompt: %s", rid, exc)
                files = []
            engine.announce(rid, leg, files, done)
            return
        try:
            prompts = [_sound(account, name) for name in announce.prompts]
        except (SoundError, KeyError) as exc:
            log.error("call %s: cannot play prompt: %s", rid, exc)
            prompts = []
        self.media.announce(rid, leg, prompts, announce.pt, done)

    def _park_expired(self, call: Call) -> None:
        """Nobody picked the call up in time: ring the parker back (then the fallback), ring
        an extension, or hang up, as the parker's park settings say."""
        rid, now = call.record.id, self.clock()
        park, entry = self._park_settings(call)
        code = entry.code if entry is not None else "?"
        account = self.config.account(call.record.account)
        stages: list[Stage] = []
        then = park.on_expiry
        if account is not None:
            if then == "parker":
                back = self.router.destination(account, entry.parker, self.wall()) if entry is not None else []
                stages += [replace(s, timeout=park.parker_ring_time) for s in back]
                then = park.fallback
            if then != "hangup":
                stages += self.router.destination(account, then, self.wall())
        if not stages:
            log.info("call %s: nobody picked it up at %s; hanging up", rid, code)
            self._run(call, call.hang_up(now, "switch", f"parked at {code} too long"))
            return
        log.info("call %s: nobody picked it up at %s; ringing %s", rid, code,
                 ", then ".join(f"{len(s.devices)} x {s.label}" for s in stages))
        self._run(call, self._parking(call).ring_back(call, stages, now))

    # --- transfer ---------------------------------------------------------------------------
    @staticmethod
    def _transferring(call: Call) -> Transfer:
        """The call's transfer feature (every call has one, registered when it is made)."""
        return call.feature(Transfer) or call.add(Transfer())

    def _transfer(self, call: Call, wanted: TransferWanted) -> None:
        """A REFER (or keys) to transfer: route the target with the transferor's own rights
        (blind), or find the transferor's other call (attended) (SPEC "Transfers")."""
        now, rid = self.clock(), call.record.id
        transfer = self._transferring(call)
        account = self.config.account(call.record.account)
        number = call.extensions.get(wanted.transferor_leg)
        transferor = account.extension(number) if account is not None and number else None
        if account is None or transferor is None:
            self._run(call, transfer.refused(call, 403, "Only Phones Of The Account Can Transfer", now))
            return
        if wanted.replaces is not None:
            self._attended(call, transfer, wanted, now)
            return
        route = self.router.route(account, transferor, wanted.target, self.wall())
        if isinstance(route, Refusal):
            log.info("call %s: transfer by %s@%s to %s refused %d: %s", rid, transferor.number, account.name, wanted.target,
                     route.status, route.cause)
            self._run(call, transfer.refused(call, route.status, route.reason, now))
            return
        log.info("call %s: %s@%s transfers to %s (%s)", rid, transferor.number, account.name, route.callee,
                 route.via or ", then ".join(f"{len(s.devices)} x {s.label}" for s in route.stages) or "nobody to ring")
        path, answered_by = call.record.path, call.record.answered_by
        if answered_by is not None and answered_by not in path:  # who had the call, then where it went
            path.append(answered_by)
        path.append(f"transfer {route.callee} by {transferor.number}")
        self._run(call, transfer.blind(call, route.stages, now))

    def _attended(self, call: Call, transfer: Transfer, wanted: TransferWanted, now: float) -> None:
        """REFER with Replaces: the far end of the transferor's other call (same account,
        answered) leaves that call and takes the transferor's place in this one."""
        replaces = wanted.replaces
        assert replaces is not None
        found = self.dialogs.get((replaces.call_id, replaces.to_tag)) or self.dialogs.get((replaces.call_id, replaces.from_tag))
        other, leg = found if found is not None else (None, "")
        far = other.other(leg) if other is not None and leg in ("a", "b") else ""
        if (other is None or other is call or other.record.account != call.record.account or other.phase is not Phase.ANSWERED
                or other.pending or other.leg(far) is None):
            log.info("call %s: attended transfer names no answered call of its account (%s)", call.record.id, replaces.call_id)
            self._run(call, transfer.refused(call, 404, "Replaced Call Not Found", now))
            return
        log.info("call %s: attended transfer joins %s of call %s", call.record.id, other.identity(far), other.record.id)
        handoff, leaving = other.hand_off(far, now)
        call.record.path.append(f"attended transfer from call {other.record.id}")
        self._run(other, leaving + other.hang_up(now, "switch", f"attended transfer to call {call.record.id}", "answered"))
        self._run(call, transfer.attended(call, handoff, now))

    def _transfer_failed(self, call: Call) -> None:
        """Nobody answered a blind transfer and the transferor left: ring it back (then the
        fallback), ring the fallback, or hang up, as the account's ``transfer`` says."""
        now, rid = self.clock(), call.record.id
        transfer = self._transferring(call)
        account = self.config.account(call.record.account)
        state = transfer.state
        stages: list[Stage] = []
        if account is not None and state is not None:
            then = account.transfer.fallback
            if then == "transferor":
                back = self.router.destination(account, state.by, self.wall()) if account.extension(state.by) else []
                stages += [replace(s, timeout=account.transfer.transferor_ring_time) for s in back]
            elif then != "hangup":
                stages += self.router.destination(account, then, self.wall())
        log.info("call %s: transfer failed; %s", rid, ", then ".join(f"{len(s.devices)} x {s.label}" for s in stages) or "hanging up")
        self._run(call, transfer.ring_back(call, stages, now))

    def parked(self) -> list[dict[str, Any]]:
        """Calls parked in this process, for the control socket."""
        return [{"account": p.account, "slot": p.code, "call": p.call, "parker": p.parker, "party": p.party,
                 "parked_at": p.parked_at, "expires_at": p.expires_at} for p in self.park.lot.listing()]

    def _pick_up(self, tx: ServerTransaction, request: Request, source: Target, account: Account, caller: Extension,
                 now: float) -> bool:
        """A phone dialled a slot with a call in it: hand the INVITE to that call.  Only the
        caller's own account's lot is looked at."""
        dialled = _dialled(request)
        if not dialled.startswith("*") or not dialled[1:].isdigit():
            return False
        entry = self.park.lot.find(account.name, int(dialled[1:]))
        call = self.calls.get(entry.call) if entry is not None else None
        if call is None:
            return False
        log.info("call %s: %s@%s picks up %s", call.record.id, caller.number, account.name, dialled)
        tx.user_data = call
        self._run(call, self._parking(call).pick_up(call, request, tx, source, caller.number, now))
        return True

    def _pick_up_elsewhere(self, tx: ServerTransaction, request: Request, source: Target, account: Account,
                           caller: Extension, now: float) -> bool:
        """A phone dialled a slot another node of the cluster holds: this node calls that node,
        which picks the call up (the phone talks through both nodes' relays)."""
        dialled = _dialled(request)
        owner = self.park.owner(account.name, int(dialled[1:])) if dialled[1:].isdigit() and dialled.startswith("*") else None
        if owner is None:
            return False
        node, address = owner
        record = CallRecord(
            id=self.new_id(), account=account.name, caller=caller.number, callee=dialled, direction="internal",
            started=self.wall(), caller_device=request.get("User-Agent") or f"{source.host}:{source.port}",
            caller_person=caller.person,
        )
        call = self._new_call(tx, request, source, record)
        if call is None:
            return True
        call.extensions["a"] = caller.number
        record.path.append(f"node {node}")
        there = f"{address.host}:{address.port}"
        signature = peers.signed(self.registrar.secret, account.name, caller.number, dialled, there, self.wall())
        device = Device(f"sip:{dialled}@{there}{signature}", address, f"node {node}")
        log.info("call %s: %s@%s picks up %s, parked on node %s", record.id, caller.number, account.name, dialled, node)
        self._run(call, call.start([Stage((device,), self.config.calls.ring_timeout, f"sip:{dialled}@{account.domain}", dialled)], now))
        return True

    def _from_peer(self, tx: ServerTransaction, request: Request, source: Target, account: Account, now: float,
                   wall: float) -> None:
        """Another node of the cluster asks this one to hand over a call parked here, for one
        of its phones: the Request-URI carries a signature with the cluster's secret (an address
        alone can be forged). Nothing else is taken from a node."""
        caller_uri = request.from_.uri
        user = caller_uri.user_unescaped if isinstance(caller_uri, SipUri) else None
        caller = account.extension(user) if user else None
        dialled = _dialled(request)
        listens = (f"{spec.address}:{spec.port}" for spec in self.config.server.listen)
        valid = caller is not None and peers.verified(self.registrar.secret, request.uri, account.name, caller.number,
                                                      dialled, listens, wall)
        if valid and caller is not None and self._pick_up(tx, request, source, account, caller, now):
            return
        if not valid:
            log.warning("a request from node %s:%s for %s with no valid signature refused", source.host, source.port, dialled)
        self.endpoint.respond(tx, make_response(request, 480 if valid else 403, "Call Not Parked" if valid else "Forbidden",
                                                to_tag=self.new_id()))

    # --- pick-up of a ringing call ------------------------------------------------------------
    def _ringing_pick_up(self, tx: ServerTransaction, request: Request, source: Target, account: Account, caller: Extension,
                         now: float) -> bool:
        """``*8`` (a call ringing any extension of the caller's pick-up groups) or ``**102`` (the
        call ringing 102): the oldest such call of the caller's own account is answered by the
        caller's phone (SPEC "Transfers, pick-up and presence")."""
        dialled, codes = _dialled(request), account.pickup
        if dialled == codes.group_code:
            wanted = {m for members in account.pickup_groups.values() if caller.number in members for m in members}
        elif dialled.startswith(codes.directed_prefix) and dialled[len(codes.directed_prefix):].isdigit():
            wanted = {dialled[len(codes.directed_prefix):]}
        else:
            return False
        wanted.discard(caller.number)
        found = [(call, who) for call in self.calls.values() if call.record.account == account.name and pickup.ringing(call)
                 and call.extensions.get("a") != caller.number for who in pickup.rung(call) if who in wanted]
        if not found:
            log.info("%s@%s dialled %s: no call ringing %s", caller.number, account.name, dialled, sorted(wanted) or "anyone")
            self.endpoint.respond(tx, make_response(request, 404, "No Call To Pick Up", to_tag=self.new_id()))
            return True
        call, who = min(found, key=lambda found: found[0].record.started)
        log.info("call %s: %s@%s picks up the call ringing %s (%s)", call.record.id, caller.number, account.name, who, dialled)
        tx.user_data = call
        self._run(call, pickup.pick_up(call, request, tx, source, caller.number, who, now))
        return True

    # --- voicemail --------------------------------------------------------------------------------
    def _has_mailbox(self, account: Account, extension: Extension) -> bool:
        """Whether calls ``extension`` does not take go to its mailbox: its own say, else the
        account's, and its person's plans must include voicemail."""
        if not (extension.voicemail if extension.voicemail is not None else account.voicemail.enabled):
            return False
        plans = self.router.allowance(account, extension, self.wall())
        return plans is None or plans.refuses_feature("voicemail") is None

    def _take_message(self, call: Call, action: TakeMessage) -> None:
        """Record the caller's message into the mailbox's directory (one channel), or the
        mailbox's new greeting beside its old one (``GREETING_NEW``, until it is kept)."""
        rid = call.record.id
        account = self.config.account(call.record.account)
        if account is None:
            return
        directory = _mailbox_directory(account, action.mailbox)
        path = directory / (GREETING_NEW if action.greeting else f"{rid}.wav")
        silence = account.voicemail.silence_seconds or None
        what = "greeting" if action.greeting else "message"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if action.greeting:
                path.unlink(missing_ok=True)  # one said before and never kept (a switch that stopped)
            if self.media.record(rid, path, mono=True, silence=silence):
                self.messages[rid] = action
                log.info("call %s: recording a %s for %s to %s", rid, what, action.mailbox, path)
        except OSError as exc:
            self.counters["messages_failed"] += 1
            log.error("call %s: the %s for %s cannot be recorded: %s", rid, what, action.mailbox, exc)

    def _keep_message(self, call: Call, kept: bool | None = None) -> None:
        """What the caller said is complete (``kept``: as the mailbox says; None: the call
        ended).  A message: its file closed and its row kept, unless it is under a second or
        all silence (nobody spoke: its file is deleted).  A greeting: put in place of the old
        one if kept, the old one removed if not, and nothing changed if the phone hung up."""
        rid = call.record.id
        taking = self.messages.pop(rid, None)
        if taking is None:
            return
        file = self.media.stop_recording(rid)
        if taking.greeting:
            self._keep_greeting(call, taking.mailbox, file, kept)
            return
        mailbox = taking.mailbox
        if file is None:
            return
        if file.seconds < MIN_MESSAGE or not file.voiced:
            log.info("call %s: %.1f s%s for %s is no message; not kept", rid, file.seconds,
                     "" if file.voiced else " of silence", mailbox)
            try:
                file.path.unlink(missing_ok=True)
            except OSError as exc:  # (the call is ended all the same: its ports, its row)
                log.error("call %s: %s not removed: %s", rid, file.path, exc)
            return
        owner = self.config.account(call.record.account)
        extension = owner.extension(mailbox) if owner is not None else None
        row = MessageRow(rid, call.record.account, mailbox, extension.person if extension else None, call.record.caller,
                         self.wall(), file.seconds, str(file.path))
        log.info("call %s: a message of %.1f s for %s@%s from %s", rid, file.seconds, mailbox, row.account, row.caller)
        self._spawn(self._kept(row))

    def _keep_greeting(self, call: Call, mailbox: str, file: RecordedFile | None, kept: bool | None) -> None:
        account = self.config.account(call.record.account)
        if account is None:
            return
        directory = _mailbox_directory(account, mailbox)
        new, own = directory / GREETING_NEW, directory / GREETING
        try:
            if kept and file is not None:
                new.replace(own)
                log.info("call %s: %s@%s recorded its greeting (%.1f s)", call.record.id, mailbox, account.name, file.seconds)
                return
            new.unlink(missing_ok=True)
            if kept is False:
                own.unlink(missing_ok=True)
                log.info("call %s: %s@%s removed its greeting", call.record.id, mailbox, account.name)
        except OSError as exc:
            self.counters["messages_failed"] += 1
            log.error("call %s: the greeting of %s@%s cannot be changed: %s", call.record.id, mailbox, account.name, exc)

    async def _kept(self, row: MessageRow) -> None:
        """The message's row, the lamps, then the person told (mail with the WAV, webhook)."""
        if not await self.mailboxes.keep(row):
            return
        for line in await voicemail_notify.tell(self.config, row):
            log.info("voicemail %s for %s@%s: %s", row.id, row.mailbox, row.account, line)

    def _listen(self, tx: ServerTransaction, request: Request, source: Target, account: Account, caller: Extension,
                now: float) -> bool:
        """``*97`` from an extension's own phone: its messages, new ones first; ``*98102`` from
        another phone of the account: 102's, after 102's PIN (b2bua/voicemail.py).  A mailbox
        that cannot be heard so (none, no PIN) gets the same 404 as a number that is not one."""
        dialled, codes = _dialled(request), account.voicemail
        remote = dialled[len(codes.remote_code):] if dialled.startswith(codes.remote_code) else None
        if dialled != codes.listen_code and not (remote and remote.isdigit()):
            return False
        owner = caller if remote is None else account.extension(remote)
        pin = None if remote is None or owner is None else owner.voicemail_pin
        if owner is None or not self._has_mailbox(account, owner) or (remote is not None and pin is None):
            log.info("%s@%s dialled %s: no mailbox to hear", caller.number, account.name, dialled)
            self.endpoint.respond(tx, make_response(request, 404, "No Mailbox", to_tag=self.new_id()))
            return True
        rows = self.mailboxes.messages(account.name, owner.number)
        messages = [(r.id, r.path, r.heard is None) for r in rows]
        record = CallRecord(id=self.new_id(), account=account.name, caller=caller.number, callee=dialled, direction="internal",
                            started=self.wall(), caller_device=request.get("User-Agent") or f"{source.host}:{source.port}",
                            caller_person=caller.person, path=[f"voicemail {owner.number}"])
        call = self._new_call(tx, request, source, record)
        if call is None:
            return True
        call.extensions["a"] = caller.number
        log.info("call %s: %s@%s listens to the mailbox of %s (%d messages)%s", record.id, caller.number, account.name,
                 owner.number, len(messages), ", after its PIN" if pin else "")
        self._run(call, call.add(Listening(owner.number, messages, pin), first=True).start(call, now))
        return True

    def _message_heard(self, call: Call, action: MessageHeard) -> None:
        account, wall = call.record.account, self.wall()
        log.info("call %s: message %s of %s %s", call.record.id, action.message, action.mailbox,
                 "deleted" if action.deleted else "heard")
        if action.deleted:
            self._spawn(self.mailboxes.delete(account, action.mailbox, action.message))
        else:
            self._spawn(self.mailboxes.heard(account, action.mailbox, action.message, wall))

    # --- supervisors ----------------------------------------------------------------------------
    def _supervise(self, tx: ServerTransaction, request: Request, source: Target, account: Account, caller: Extension,
                   now: float) -> bool:
        """``*221102`` (listen), ``*222102`` (whisper), ``*223102`` (barge): a supervisor of 102
        joins 102's answered call (b2bua/monitor.py).  Anyone else gets ``403`` whether or not
        102 is on a call; a number the caller's account does not have, ``404``."""
        codes = account.supervision
        found = monitor.wanted(_dialled(request), {codes.listen_code: "listen", codes.whisper_code: "whisper",
                                                   codes.barge_code: "barge"})
        if found is None:
            return False
        mode, number = found
        agent = account.extension(number)

        def refuse(status: int, reason: str) -> bool:
            log.info("%s@%s dialled %s: %d %s", caller.number, account.name, _dialled(request), status, reason)
            self.endpoint.respond(tx, make_response(request, status, reason, to_tag=self.new_id()))
            return True

        if agent is None:
            return refuse(404, "Not Found")
        if not _supervises(account, caller.number, agent):
            return refuse(403, f"Forbidden (not a supervisor of {number})")
        calls = [(call, leg) for call in self.calls.values() if call.record.account == account.name
                 and call.phase is Phase.ANSWERED for leg in ("a", "b") if call.extensions.get(leg) == number]
        if not calls:
            return refuse(480, f"{number} Is Not On A Call")
        call, leg = max(calls, key=lambda found: found[0].record.answered or 0.0)  # the latest the agent took
        watching = call.feature(Monitor)
        if watching is not None and watching.on:  # one supervisor per call
            return refuse(486, "Call Already Monitored")
        if self._on_engine(call.record.id) is not None:
            return refuse(488, "Call Carried By rtpengine")  # the switch hears none of it (README)
        pts = {each: voice(call, each) or 0 for each in ("a", "b")}
        try:
            ports = self.media.monitor(call.record.id, leg, mode, pts)
        except PortsExhausted:
            return refuse(503, "No Media Ports")
        if ports is None:
            return refuse(486, "Call Already Monitored")
        if watching is not None:
            call.features.remove(watching)
        keys = {codes.listen_key: "listen", codes.whisper_key: "whisper", codes.barge_key: "barge"}
        feature = call.add(Monitor(caller.number, leg, mode, keys, beep=codes.beep), first=True)  # type: ignore[arg-type]
        log.info("call %s: %s@%s joins to %s %s", call.record.id, caller.number, account.name, mode, number)
        tx.user_data = call
        self._run(call, feature.join(call, request, tx, source, ports, now))
        return True

    def _supervised(self, call: Call, action: Supervise) -> None:
        rid = call.record.id
        if action.mode is None:
            self.media.end_monitor(rid)
        else:
            log.info("call %s: supervisor %s", rid, {"listen": "listens", "whisper": "whispers", "barge": "barges in"}[action.mode])
            self.media.monitor_mode(rid, action.mode, dict(action.pts))

    def _replaces(self, tx: ServerTransaction, request: Request, source: Target, account: Account, caller: Extension,
                  now: float) -> bool:
        """An INVITE with Replaces (RFC 3891) naming a dialog of the caller's account: a ringing
        fork's early dialog (a BLF key's pick-up), or a phone's answered call (an attended
        transfer done by INVITE, a call pulled to another phone: the sender takes that phone's
        place).  A dialog not found, of another account, or neither ringing nor answered: ``481``."""
        value = request.get("Replaces")
        if value is None:
            return False
        try:
            replaces = parse_replaces(value)
        except RemoteProtocolError as exc:
            self.endpoint.respond(tx, make_response(request, 400, exc.reason[:60], to_tag=self.new_id()))
            return True
        found = self.dialogs.get((replaces.call_id, replaces.to_tag))
        if found is None and replaces.from_tag:  # the tags the other way round
            found = self.dialogs.get((replaces.call_id, replaces.from_tag))
        call, leg = found if found is not None else (None, "")
        if call is not None and leg in ("a", "b") and call.record.account == account.name and call.phase is Phase.ANSWERED:
            if replaces.early_only:  # RFC 3891 §3: not for a confirmed dialog
                self.endpoint.respond(tx, make_response(request, 486, "Call Already Answered", to_tag=self.new_id()))
                return True
            log.info("call %s: %s@%s takes the place of %s (Replaces)", call.record.id, caller.number, account.name,
                     call.extensions.get(leg) or leg)
            tx.user_data = call
            self._run(call, self._transferring(call).replaced(call, leg, request, tx, source, caller.number, now))
            return True
        fork = call.forks[int(leg[5:])] if call is not None and leg.startswith("fork:") else None
        if call is None or fork is None or call.record.account != account.name or not pickup.ringing(call):
            log.info("%s@%s: INVITE with Replaces names no ringing call of its account", caller.number, account.name)
            self.endpoint.respond(tx, make_response(request, 481, "Call Does Not Exist", to_tag=self.new_id()))
            return True
        who = fork.device.member or call.stages[fork.stage].extension or call.stages[fork.stage].label
        log.info("call %s: %s@%s picks up the call ringing %s (Replaces)", call.record.id, caller.number, account.name, who)
        tx.user_data = call
        self._run(call, pickup.pick_up(call, request, tx, source, caller.number, who, now))
        return True

    # --- live state -------------------------------------------------------------------------
    def active(self) -> list[dict[str, Any]]:
        """Calls in progress for ``softswitch calls --active``: legs as in/out/lost/jitter, and
        each leg's RTP port on the switch."""
        out = []
        for call in self.calls.values():
            rec = call.record
            session = self.media.sessions.get(rec.id)
            legs, ports = {}, {}
            if session is not None:
                ports = dict(session.ports)
                for name, leg in session.relay.legs.items():
                    stats = leg.received
                    legs[name] = f"{stats.packets}/{leg.sent_packets}/{stats.lost}/{stats.jitter_ms:.1f}"
            elif (engine := self._on_engine(rec.id)) is not None:  # rtpengine's ports (its counters: its query)
                ports = {name: pair.rtp for name, pair in engine.calls[rec.id].ports.items()}
            out.append({
                "id": rec.id, "account": rec.account, "caller": rec.caller, "callee": rec.callee,
                "direction": rec.direction, "started": rec.started, "answered": rec.answered,
                "state": call.phase.value, "forks": len(call.forks), "legs": legs, "ports": ports,
            })
        return out


def _supervises(account: Account, who: str, agent: Extension) -> bool:
    """Whether extension ``who`` is one of ``agent``'s supervisors (itself, or in a group named)."""
    return monitor.supervises(who, agent.supervisors, lambda n: g.members if (g := account.group(n)) else ())


def _sound(account: Account | None, name: str) -> Sound:
    return load(_sound_path(account, name))


def _sound_path(account: Account | None, name: str) -> Path:
    """What a prompt name plays: a voicemail message's file (``file:<path>``), the account's
    recording of that name, or the switch's own prompt (``KeyError`` for none of them)."""
    if name.startswith(FILE):
        return Path(name.removeprefix(FILE))
    recordings = account.recordings if account is not None else {}
    return recordings.get(name) or sounds.prompt(name)


def _mailbox_directory(account: Account, mailbox: str) -> Path:
    """Where a mailbox's messages and its own greeting are (made 0700 when first written)."""
    return (account.voicemail.directory or Path("voicemail") / account.name).absolute() / mailbox


def _shedding(config: Config) -> Shedding:
    o = config.overload
    return Shedding(o.max_call_rate, o.max_delay, o.hold, o.port_reserve, o.retry_after)


ENGINE_BACKOFF = 10.0  # seconds new calls go to the relay after rtpengine failed one


def _dialled(request: Request) -> str:
    uri = request.uri
    if isinstance(uri, SipUri):
        return (uri.user_unescaped or "")[:64]
    return str(uri)[:64]


__all__ = ["CallService"]


def _person(config: Config, account_name: str, number: str) -> str | None:
    account = config.account(account_name)
    extension = account.extension(number) if account is not None else None
    return extension.person if extension is not None else None
