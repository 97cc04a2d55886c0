"""One B2BUA call: the caller's leg (A) and the legs the switch places (B forks).

Theory of operation
-------------------
The caller's INVITE is answered by the switch as a UAS (leg A); for each device
to ring the switch is a UAC of a new INVITE with its own Call-ID, tags and CSeq
(a B fork).  Media is anchored: every SDP is rewritten so that each phone sends
RTP to the relay port of its own leg (``MediaPorts``), and the relay is told
where each phone said it listens (``SetMedia``).

Ringing (RFC 3261 §13, §16.7 for choosing among fork answers):
  * 180/183 from any fork go back to A (183 with SDP as early media);
  * the first 2xx wins: A gets 200 with the callee's SDP rewritten, the other
    forks get CANCEL with ``Reason: SIP;cause=200;text="Call completed elsewhere"``
    (RFC 3326), and a 2xx that comes later anyway is ACKed and BYEd (§15);
  * when every fork failed, A gets the best failure (6xx, then 486, then the
    lowest 4xx; 5xx and timeouts become 480);
  * the ring timeout cancels every fork and answers 480; CANCEL from A cancels
    every fork and answers 487.
A CANCEL goes to a fork only once it has sent a provisional response (§9.1).

Answered: BYE on either leg ends both.  re-INVITE, UPDATE, INFO and MESSAGE are
forwarded to the other leg with their SDP rewritten, and the answer comes back
the same way; a re-INVITE while another is pending gets 491 (§14.1); OPTIONS is
answered here.  ACK for 2xx is end to end only where it carries SDP (late
offer); otherwise the switch ACKs the callee's 2xx itself and absorbs the
caller's ACK.  The switch retransmits its own 2xx on a leg until that leg ACKs
(§13.3.1.4) and ends the call if no ACK comes in 64*T1.  Keys pressed (an INFO,
or an RFC 4733 event the relay saw: ``on_key``) go to the call's features.

Features (park, the switch answering the caller itself, answer confirmation,
transfer) are registered on a call (``add``) and asked at each point where one may
take over (``feature.py``); the call never names one, and they use only the public
leg API below: ``leg``/``join``/``leave`` (who is on a leg), ``relay``/``heard`` (SDP
through the relay), ``ring`` (stages of forks, for the caller or a ``Ringer``),
``put_through``, ``answer_caller``, ``bye``, ``lone_request``, ``answer_request``,
``hang_up``/``end``.  Which phase may follow which is the table ``PHASES``.

Not here: sockets, timers and the transaction layer (the service), where the
relay runs (media endpoint), authentication and what the number means (service
and routing).  Inputs come with ``now`` on a monotonic clock (the one the SIP
layer's timers run on); what a person reads (the history's times) is ``wall(now)``.
Outputs are ``Action`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..sdp.model import SessionDescription, parse_sdp
from ..sdp.offer_answer import RelayPorts, narrow_codecs, relay_view
from ..sip.auth import authorization
from ..sip.dialog import Dialog
from ..sip.errors import LocalProtocolError, RemoteProtocolError
from ..sip.headers import NameAddr
from ..sip.message import Header, Request, Response, make_response
from ..sip.transaction import Target
from ..sip.uri import parse_uri
from . import session_timer
from .actions import (
    ALLOW,
    COMPLETED_ELSEWHERE,
    FORWARDED,
    Action,
    BindDialog,
    CallEnded,
    Detach,
    Device,
    Fork,
    ForkState,
    Locality,
    MediaPorts,
    Phase,
    Ref,
    Respond,
    Route,
    SendRaw,
    SendRequest,
    SetMedia,
    Stage,
    StopPlaying,
    allows,
    glare,
    with_body,
)
from .dtmf import info_key
from .feature import Feature, Offer, Ringer
from .record import CallRecord
from .session_timer import LegTimer


@dataclass
class Unacked:
    """A 2xx we sent on a leg and retransmit until that leg's ACK (§13.3.1.4)."""

    data: bytes
    target: Target
    cseq: int
    next_at: float
    interval: float
    give_up_at: float


@dataclass
class Handoff:
    """A phone's dialog and what goes with it, moving from one call to another."""

    dialog: Dialog
    extension: str | None
    update: bool
    timer: LegTimer | None
    session: SessionDescription | None  # what the phone last sent


# --------------------------------------------------------------------------- the call

SESSION_PHASES = (Phase.ATTENDED, Phase.ANSWERED, Phase.PARKED, Phase.TRANSFERRING)  # the caller has been answered

BYE = Ref("bye")

# Which phase may follow which (``Call.enter``); a move that is not here is a bug.
PHASES: dict[Phase, frozenset[Phase]] = {
    Phase.RINGING: frozenset({Phase.ATTENDED, Phase.ANSWERED, Phase.ENDED}),
    Phase.ATTENDED: frozenset({Phase.ANSWERED, Phase.ENDED}),
    Phase.ANSWERED: frozenset({Phase.PARKED, Phase.TRANSFERRING, Phase.ENDED}),
    Phase.PARKED: frozenset({Phase.ANSWERED, Phase.ENDED}),
    Phase.TRANSFERRING: frozenset({Phase.ANSWERED, Phase.ENDED}),
    Phase.ENDED: frozenset(),
}

F = TypeVar("F", bound=Feature)


class Call:
    def __init__(
        self, *, record: CallRecord, invite: Request, tx: Any, source: Target, locality: Locality,
        media: MediaPorts, new_id: Callable[[], str], new_branch: Callable[[], str],
        t1: float = 0.5, t2: float = 4.0, wall_offset: float = 0.0,
    ) -> None:
        self.record = record
        self.invite = invite
        self.tx = tx
        self.source = source
        self.locality = locality
        self.media = media
        self.new_id = new_id
        self.new_branch = new_branch
        self.t1, self.t2 = t1, t2
        self.wall_offset = wall_offset  # wall-clock seconds minus the call's clock, for what a person reads
        self.accepted = False  # the caller's INVITE got its 100 and its offer was read
        self.stages: list[Stage] = []
        self.stage = -1
        self.phase = Phase.RINGING
        self.a_tag = new_id()
        self.a_dialog = Dialog.as_uas(invite, self.a_tag, locality.contact(source.transport), source)
        self.a: Dialog | None = self.a_dialog  # the caller's leg, until the caller parks or is parked and picked up
        self.forks: list[Fork] = []
        self.b: Dialog | None = None  # the answered fork's dialog
        # Legs a feature holds beside the two parties (a supervisor's, "m"); None once it left.
        self.others: dict[str, Dialog | None] = {}
        self.offer: SessionDescription | None = None  # A's offer (narrowed); None for a late offer
        self.a_final_sent = False
        self.ring_deadline: float | None = None
        self.unacked: dict[str, Unacked] = {}
        self.pending: dict[str, Ref] = {}  # leg -> forward in progress towards that leg
        # leg -> (its dialog, the INVITE CSeq) whose 2xx waits for the other leg's ACK (late offer)
        self.late_ack: dict[str, tuple[Dialog, int]] = {}
        # RFC 4028, per leg: the agreed timer, the SDP we last sent there (a refresh offers it
        # again) and the o= line the phone last sent (the same o= again: nothing changed).
        self.timers: dict[str, LegTimer] = {}
        self.sdp_sent: dict[str, bytes] = {}
        self.sdp_from: dict[str, SessionDescription] = {}  # the SDP each phone last sent (narrowed)
        self.origin: dict[str, str | None] = {}
        self.allows_update: dict[str, bool] = {"a": allows(invite, "UPDATE")}
        # The account's extension on each leg (None: an outside party), so the service knows
        # who parks and who picks up; set by the service for the caller, by the stage for the callee.
        self.extensions: dict[str, str | None] = {"a": None, "b": None}
        self.features: list[Feature] = []
        self.ringer: Ringer | None = None  # whom the forks ring for, when not the waiting caller
        # Where the caller goes when nobody answers (no phone, busy, no answer in time): the
        # callee's mailbox, "voicemail:102".  None: the caller gets the failure.
        self.fallback: str | None = None

    def wall(self, now: float) -> float:
        """``now`` (the monotonic clock every timer runs on) as wall-clock time, for the history."""
        return now + self.wall_offset

    # --- features -------------------------------------------------------------
    def add(self, feature: F, *, first: bool = False) -> F:
        """Register ``feature``; ``first``: asked before those registered already (a mailbox
        before the attendant that answered for it)."""
        if first:
            self.features.insert(0, feature)
        else:
            self.features.append(feature)
        return feature

    def feature(self, kind: type[F]) -> F | None:
        """The feature of that kind registered on this call, if any."""
        return next((f for f in self.features if isinstance(f, kind)), None)

    def enter(self, phase: Phase) -> None:
        """Move to ``phase`` as the table ``PHASES`` allows."""
        if phase is not self.phase and phase not in PHASES[self.phase]:
            raise LocalProtocolError(f"call {self.record.id}: {self.phase.value} -> {phase.value} is not a call phase change")
        self.phase = phase

    # --- helpers ------------------------------------------------------------
    def caller_response(self, status: int, reason: str | None = None, body: bytes = b"",
                        extra: list[tuple[str, str]] | None = None) -> Response:
        resp = make_response(self.invite, status, reason, to_tag=self.a_tag)
        if 100 < status < 300:
            resp.add("Contact", self.a_dialog.contact)
        if 200 <= status < 300:
            resp.add("Allow", ALLOW)
            resp.add("Supported", session_timer.TAG)
        for name, value in extra or ():
            resp.add(name, value)
        resp.add("Server", self.locality.user_agent)
        return with_body(resp, body)

    def await_ack(self, leg: str, response: Response, target: Target, cseq: int, now: float) -> None:
        """Retransmit our 2xx on ``leg`` from T1 on, doubling to T2, until its ACK (§13.3.1.4)."""
        self.unacked[leg] = Unacked(bytes(response), target, cseq, now + self.t1, self.t1, now + 64 * self.t1)

    def relay(self, body: bytes, source: str, *, narrow: bool = False) -> tuple[bytes, SetMedia]:
        """SDP from the phone on leg ``source`` as the other leg must see it (the relay's
        address and that leg's port), and where that phone receives RTP.  Raises
        ``RemoteProtocolError`` (400 malformed, 488 with ``narrow`` and no common codec)."""
        sdp = parse_sdp(body)
        if narrow:
            sdp = narrow_codecs(sdp)
        view = bytes(relay_view(sdp, self.media.address, self.ports(self.other(source))))
        self.sdp_sent[self.other(source)] = view
        return view, self.heard(source, sdp)

    def heard(self, leg: str, sdp: SessionDescription) -> SetMedia:
        """SDP the phone on ``leg`` sent: its o= line (an unchanged one is a refresh) and its
        session (offered on in a ring-back) are kept, and the relay learns where it listens."""
        self.origin[leg], self.sdp_from[leg] = sdp.first("o"), sdp
        return SetMedia.of(leg, sdp)

    def lone_request(self, leg: str, tx: Any, request: Request, now: float, *,
                     bye: Callable[[], list[Action]], key: Callable[[str], list[Action]] | None = None) -> list[Action] | None:
        """An in-dialog request from a phone the switch holds on its own (parked, in a menu, a
        member yet to press 1): nobody else hears it.  BYE is ``bye()``'s business; a session
        refresh or a new offer is answered with the session the phone has; INFO may carry a
        ``key``.  None: a method the caller answers itself."""
        dialog = self.leg(leg)
        if dialog is None:
            return [Respond(tx, make_response(request, 481))]
        try:
            dialog.accept(request)
        except RemoteProtocolError as exc:
            return [Respond(tx, make_response(request, exc.status_hint))]
        method = request.method
        if method == "BYE":
            return [Respond(tx, make_response(request, 200)), *bye()]
        if method in ("INVITE", "UPDATE"):
            if not request.body or self._is_refresh(leg, request):
                return self._answer_refresh(leg, tx, request, now)
            try:
                offer = narrow_codecs(parse_sdp(request.body))
            except RemoteProtocolError as exc:
                return [Respond(tx, make_response(request, exc.status_hint))]
            return [self.heard(leg, offer), *self._answer_refresh(leg, tx, request, now)]
        if method == "OPTIONS":
            return [Respond(tx, self._options(request))]
        if method == "INFO":
            pressed = info_key(request) if key is not None else None
            return [Respond(tx, make_response(request, 200)), *(key(pressed) if key is not None and pressed else [])]
        return None

    def via(self, target: Target) -> str:
        return self.locality.via(target.transport, self.new_branch())

    def bye(self, dialog: Dialog, reason: str | None = None, ref: Ref | None = None) -> SendRequest:
        """A BYE inside ``dialog`` (with an RFC 3326 ``Reason``)."""
        extra = [Header("Reason", reason)] if reason else None
        return SendRequest(dialog.request("BYE", self.via(dialog.target), extra=extra), dialog.target, ref or BYE)

    def join(self, leg: str, dialog: Dialog, *, extension: str | None, update: bool, timer: LegTimer | None = None) -> None:
        """``dialog`` is the phone on ``leg`` now (a pick-up, a ring-back, a member who
        answered): the account's extension on it, whether it takes UPDATE, its session timer."""
        if leg == "a":
            self.a = dialog
        else:
            self.b = dialog
        self.extensions[leg] = extension
        self.allows_update[leg] = update
        if timer is not None:
            self.timers[leg] = timer

    def leave(self, leg: str, now: float) -> list[Action]:
        """The phone on ``leg`` is gone from the call: its dialog, timers and relay leg (and
        what a feature does about it: a supervisor of that phone goes too)."""
        self.forget(leg)
        out: list[Action] = [StopPlaying(leg), Detach(leg)]
        for feature in self.features:
            out += feature.on_leave(self, leg, now)
        return out

    def forget(self, leg: str) -> None:
        """``leg``'s dialog and everything the call kept for it (its session, timers, answers)."""
        if leg == "a":
            self.a = None
        elif leg in self.others:
            self.others[leg] = None
        else:
            self.b = None
        for table in (self.timers, self.sdp_sent, self.sdp_from, self.origin, self.unacked, self.late_ack, self.pending,
                      self.allows_update):
            table.pop(leg, None)
        if leg in ("a", "b"):
            self.extensions[leg] = None

    def hand_off(self, leg: str, now: float) -> tuple[Handoff, list[Action]]:
        """The phone on ``leg`` leaves this call for another (an attended transfer joins it to
        the transferee): what the other call needs to carry its dialog on, and this call's
        actions for its leaving (no BYE: the dialog goes on elsewhere)."""
        dialog = self.leg(leg)
        assert dialog is not None
        handoff = Handoff(dialog, self.extensions.get(leg), self.allows_update.get(leg, False), self.timers.get(leg),
                          self.sdp_from.get(leg))
        return handoff, self.leave(leg, now)

    def answer_caller(self, body: bytes, now: float, extra: list[tuple[str, str]] | None = None) -> Response:
        """The caller's 200 (with its session timer), retransmitted until its ACK."""
        self.a_final_sent = True
        ok = self.caller_response(200, None, body, extra=[*self.timer_headers("a", self.invite, now), *(extra or ())])
        self.await_ack("a", ok, self.source, self.invite.cseq.number, now)
        return ok

    def end(self, now: float, disposition: str, hangup_by: str, cause: str) -> list[Action]:
        if self.phase is Phase.ENDED:
            return []
        self.enter(Phase.ENDED)
        rec = self.record
        rec.ended = self.wall(now)
        rec.left(None, rec.ended)
        rec.disposition = disposition if rec.answered is None else "answered"
        rec.hangup_by = hangup_by
        rec.cause = cause
        self.unacked.clear()
        out = self.stop_ringing(None, None)  # forks still ringing (a ring-back)
        for feature in self.features:  # e.g. a member who has not pressed 1 yet
            out += feature.on_end(self, cause)
        return out + [CallEnded(rec)]

    # --- start ----------------------------------------------------------------
    def reject(self, status: int, reason: str | None, disposition: str, cause: str, now: float) -> list[Action]:
        """Refuse the call before ringing anyone (permission, unknown number, no device)."""
        self.a_final_sent = True
        return [Respond(self.tx, self.caller_response(status, reason)), *self.end(now, disposition, "switch", cause)]

    def accept(self, now: float) -> list[Action]:
        """Take the caller's INVITE in hand: 100, its dialog, its offer; or refuse it (a session
        interval too small, an offer without a usable codec).  Before ``start`` or the
        switch answering itself (a menu, an announcement); once."""
        if self.accepted:
            return []
        self.accepted = True
        out: list[Action] = [Respond(self.tx, make_response(self.invite, 100)), BindDialog(self.a_dialog.key, "a")]
        if session_timer.too_small(self.invite):
            self.a_final_sent = True
            refuse = self.caller_response(422, None, extra=[("Min-SE", str(session_timer.MIN_SE))])
            return out + [Respond(self.tx, refuse), *self.end(now, "failed", "switch", "session interval too small")]
        if self.invite.body:
            try:
                offer = parse_sdp(self.invite.body)
                self.origin["a"] = offer.first("o")
                self.offer = self.sdp_from["a"] = narrow_codecs(offer)
            except RemoteProtocolError as exc:
                return out + self.reject(exc.status_hint, None, "failed", exc.reason, now)
            out.append(SetMedia.of("a", self.offer))
        return out

    def start(self, stages: list[Stage], now: float) -> list[Action]:
        """Ring each stage's devices at once, stage after stage."""
        out = self.accept(now)
        if self.phase is not Phase.RINGING:
            return out
        self.stages = [s for s in stages if s.devices]
        if not self.stages:
            return out + (self._fall_back("no registered device")
                          or self.reject(480, "Temporarily Unavailable", "failed", "no registered device", now))
        return out + self._next_stage(now)

    def _fall_back(self, why: str) -> list[Action]:
        """The caller, still waiting, goes where ``fallback`` says (once), or nothing: []."""
        fallback, self.fallback = self.fallback, None
        if fallback is None or self.phase is not Phase.RINGING or self.a_final_sent:
            return []
        return [Route(fallback, why)]

    def ring(self, stages: list[Stage], now: float, ringer: Ringer) -> list[Action]:
        """Ring ``stages`` (stages without a device are dropped) for ``ringer``, after any
        rung before: fork stage numbers stay unique across ringings."""
        self.ringer = ringer
        self.stage = len(self.stages) - 1
        self.stages += [s for s in stages if s.devices]
        return self._next_stage(now)

    def _next_stage(self, now: float) -> list[Action]:
        self.stage += 1
        stage = self.stages[self.stage]
        if self.ringer is not None:  # the ringer says what the forks are offered, and who calls
            offer = self.ringer.fork_offer(self)
        else:
            body = bytes(relay_view(self.offer, self.media.address, self.media.b)) if self.offer is not None else b""
            self.sdp_sent["b"] = body
            offer = Offer(body)
        out: list[Action] = []
        for device in stage.devices:
            invite = self._fork_invite(device, stage.callee_uri, offer)
            fork = Fork(len(self.forks), device, invite, stage=self.stage)
            self.forks.append(fork)
            out.append(BindDialog((fork.invite.call_id, fork.invite.from_.tag or ""), f"fork:{fork.id}"))
            out.append(SendRequest(fork.invite, device.target, Ref("invite", fork.id)))
        self.ring_deadline = now + stage.timeout
        return out

    def _fork_invite(self, device: Device, callee_uri: str, offer: Offer) -> Request:
        body = offer.body
        caller = offer.shown or self.invite.from_
        if device.caller_id is not None:
            shown_from = NameAddr(parse_uri(device.caller_id), None, (("tag", self.new_id()),))
        else:
            shown_from = NameAddr(caller.uri, caller.display_name, (("tag", self.new_id()),))
        max_forwards = self.invite.max_forwards
        headers = [
            Header("Via", self.via(device.target)),
            Header("Max-Forwards", str(max(1, (70 if max_forwards is None else max_forwards) - 1))),
            *[Header("Route", hop) for hop in device.route],
            Header("From", str(shown_from)),
            Header("To", f"<{callee_uri if device.caller_id is None else device.uri}>"),  # a provider: the number
            Header("Call-ID", f"{self.new_id()}{self.new_id()}"),
            Header("CSeq", "1 INVITE"),
            Header("Contact", self.locality.contact(device.target.transport)),
            Header("Allow", ALLOW),
            Header("Supported", session_timer.TAG),  # the callee may ask for a session timer in its 2xx
            Header("User-Agent", self.locality.user_agent),
        ]
        if device.caller_id is not None:
            headers.append(Header("P-Asserted-Identity", f"<{device.asserted or device.caller_id}>"))
        if device.diversion is not None:
            headers.append(Header("Diversion", device.diversion))
        for name, value in offer.headers:  # a provider is shown the trunk's caller ID, not the ringer's
            if device.caller_id is None or name.lower() != "p-asserted-identity":
                headers.append(Header(name, value))
        if body:
            headers.append(Header("Content-Type", "application/sdp"))
        headers.append(Header("Content-Length", str(len(body))))
        return Request("INVITE", parse_uri(device.uri), headers, body)

    def _authenticated_retry(self, fork: Fork, response: Response) -> list[Action]:
        """Answer a trunk's 401/407 once: the same INVITE, CSeq + 1, new branch, with
        credentials (RFC 3261 §22.2)."""
        assert fork.device.credentials is not None
        username, password = fork.device.credentials
        header = "Proxy-Authorization" if response.status == 407 else "Authorization"
        challenge = response.get("Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate") or ""
        value = authorization(challenge, "INVITE", str(fork.invite.uri), username, password, self.new_id())
        if value is None:
            return []
        old = fork.invite
        headers = [h for h in old.headers if h.key not in ("via", "cseq", "authorization", "proxy-authorization", "content-length")]
        headers.insert(0, Header("Via", self.via(fork.device.target)))
        headers.append(Header("CSeq", f"{old.cseq.number + 1} INVITE"))
        headers.append(Header(header, value))
        headers.append(Header("Content-Length", str(len(old.body))))
        fork.invite = Request("INVITE", old.uri, headers, old.body)
        fork.auth_tried = True
        fork.state = ForkState.CALLING
        return [SendRequest(fork.invite, fork.device.target, Ref("invite", fork.id))]

    # --- responses to our requests ----------------------------------------------
    def on_response(self, ref: Ref, response: Response | None, now: float) -> list[Action]:
        if ref.kind == "invite":
            return self._fork_response(self.forks[ref.fork], response, now)
        if ref.kind == "forward":
            return self._forward_response(ref, response, now)
        if ref.kind == "refresh":
            return self._refresh_response(ref, response, now)
        if isinstance(ref.feature, Feature):
            return ref.feature.on_response(self, ref, response, now)
        return []  # CANCEL and BYE answers change nothing

    def _fork_response(self, fork: Fork, response: Response | None, now: float) -> list[Action]:
        status = 408 if response is None else response.status
        if status < 200:
            return self._fork_provisional(fork, response, now) if response is not None else []
        if status < 300 and response is not None:
            return self._fork_answered(fork, response, now)
        if fork.state in (ForkState.FAILED, ForkState.ANSWERED):
            return []
        if (status in (401, 407) and response is not None and fork.device.credentials is not None
                and not fork.auth_tried and not fork.cancel_wanted):
            retry = self._authenticated_retry(fork, response)
            if retry:
                return retry
        fork.state = ForkState.FAILED
        fork.final = status
        fork.final_reason = "Request Timeout" if response is None else response.reason
        return self.fork_lost(now)

    def fork_lost(self, now: float) -> list[Action]:
        """A device is out of the running: wait for the others of its stage, then ring the
        next stage, or answer the caller with the best failure when none is left."""
        if not self._forks_matter():
            return []
        if any(f.state in (ForkState.CALLING, ForkState.EARLY) for f in self.forks if f.stage == self.stage):
            return []
        if self.stage + 1 < len(self.stages):
            return self._next_stage(now)
        if any(f.state in (ForkState.CALLING, ForkState.EARLY) for f in self.forks):
            return []
        if self.ringer is not None:
            return self.ringer.nobody_answered(self, now)
        return self._all_forks_failed(now)

    def _forks_matter(self) -> bool:
        """Whether the forks' outcome still decides something: the caller waits for an answer,
        or the ringer they ring for (a parked call rung back, a caller the switch answered)."""
        if self.ringer is not None:
            return self.ringer.rings(self)
        return self.phase is Phase.RINGING and not self.a_final_sent

    def _fork_provisional(self, fork: Fork, response: Response, now: float) -> list[Action]:
        out: list[Action] = []
        if fork.tag is None and response.status > 100:
            fork.tag = response.to.tag
        if fork.state is ForkState.CALLING:
            fork.state = ForkState.EARLY
        if fork.cancel_wanted and not fork.cancel_sent:
            return self._send_cancel(fork)
        if response.status == 100 or self.phase is not Phase.RINGING or self.a_final_sent:
            return out
        body = b""
        if response.body and self.offer is not None:
            try:
                body, media = self.relay(response.body, "b")
                out.append(media)
            except RemoteProtocolError:
                body = b""  # unusable early media: ringing without it
        status = 183 if body else (response.status if response.status in (180, 181, 182, 183) else 180)
        out.append(Respond(self.tx, self.caller_response(status, None, body)))
        return out

    def _fork_answered(self, fork: Fork, response: Response, now: float) -> list[Action]:
        if fork.state is ForkState.ANSWERED:  # a retransmitted 2xx: ACK again (if ACKed yet)
            return [SendRaw(fork.device.target, fork.ack)] if fork.ack is not None else []
        try:
            dialog = Dialog.as_uac(fork.invite, response, fork.device.target)
        except RemoteProtocolError as exc:
            return self._unusable_answer(fork, response, exc, now)
        fork.dialog = dialog
        fork.state = ForkState.ANSWERED
        if self._forks_matter():
            for feature in self.features:  # e.g. the member must press 1 first
                taken = feature.on_fork_answered(self, fork, response, now)
                if taken is not None:
                    return taken
        return self.put_through(fork, response, now)

    def put_through(self, fork: Fork, response: Response, now: float, *, acked: bool = False) -> list[Action]:
        """``fork`` answered (and confirmed, if its stage asks): it becomes leg B, and the
        caller is answered with its session; or it is the ringer's."""
        if not self._forks_matter():
            return self.too_late(fork, acked=acked)
        if self.ringer is not None:
            return self.ringer.fork_answered(self, fork, response, now, acked=acked)
        dialog = fork.dialog
        assert dialog is not None
        out: list[Action] = []
        body = b""
        try:
            if response.body:  # narrowed when the callee made the offer (late offer from A)
                body, media = self.relay(response.body, "b", narrow=self.offer is None)
                out.append(media)
        except RemoteProtocolError as exc:
            out += [] if acked else self.ack_fork(fork, b"")
            out.append(SendRequest(dialog.request("BYE", self.via(fork.device.target)), fork.device.target, Ref("bye", fork.id)))
            fork.state = ForkState.FAILED
            self.a_final_sent = True
            out.append(Respond(self.tx, self.caller_response(488 if exc.status_hint == 488 else 502)))
            out += self.stop_ringing(fork, COMPLETED_ELSEWHERE)
            return out + self.end(now, "failed", "switch", f"callee's SDP: {exc.reason}")
        self.enter(Phase.ANSWERED)
        self.b = dialog
        self.answered_by(fork, response, now)
        self.extensions["b"] = fork.device.member or self.stages[fork.stage].extension
        if not acked:
            out.append(BindDialog(dialog.key, "b"))
            if self.offer is not None:
                out += self.ack_fork(fork, b"")
            else:
                self.late_ack["b"] = (dialog, fork.invite.cseq.number)
        out += self.stop_ringing(fork, COMPLETED_ELSEWHERE)
        self.allows_update["b"] = allows(response, "UPDATE")
        b_timer = session_timer.as_uac(response, now)
        if b_timer is not None:
            self.timers["b"] = b_timer
        return out + [Respond(self.tx, self.answer_caller(body, now))]

    def answered_by(self, fork: Fork, response: Response, now: float) -> None:
        """The history learns who took the call, when, on which device."""
        rec = self.record
        rec.answered = self.wall(now)
        rec.answered_by = fork.device.member or self.stages[fork.stage].label
        rec.callee_device = response.get("Server") or response.get("User-Agent") or fork.device.label
        rec.joined(rec.caller, "caller", rec.answered)
        rec.joined(rec.answered_by, "callee", rec.answered)

    def too_late(self, fork: Fork, *, acked: bool = False) -> list[Action]:
        """A fork answered too late (answered elsewhere, cancelled, timed out): ACK and BYE (§15)."""
        assert fork.dialog is not None
        late = [] if acked else self.ack_fork(fork, b"")
        return late + [self.bye(fork.dialog, COMPLETED_ELSEWHERE, Ref("bye", fork.id))]

    def fork_failed(self, fork: Fork, reason: str, now: float) -> list[Action]:
        """An answered fork whose SDP cannot be used (ACKed already): BYE it and count it as a
        488, then on with the ringing."""
        assert fork.dialog is not None
        fork.state, fork.final, fork.final_reason = ForkState.FAILED, 488, "Not Acceptable Here"
        return [self.bye(fork.dialog, f'SIP;cause=488;text="{reason}"', Ref("bye", fork.id)), *self.fork_lost(now)]

    def _unusable_answer(self, fork: Fork, response: Response, exc: RemoteProtocolError, now: float) -> list[Action]:
        """A 2xx whose Contact or Record-Route cannot be read cannot carry a call: ACK it and
        hang it up where the INVITE went, and treat the fork as failed (502)."""
        fork.dialog = Dialog.as_uac(fork.invite, response, fork.device.target, routing=False)
        fork.state = ForkState.ANSWERED  # a retransmitted 2xx is ACKed again, nothing more
        out = self.ack_fork(fork, b"")
        reason = f'SIP;cause=502;text="{exc.reason.replace(chr(34), chr(39))}"'
        bye = fork.dialog.request("BYE", self.via(fork.device.target), extra=[Header("Reason", reason)])
        out.append(SendRequest(bye, fork.device.target, Ref("bye", fork.id)))
        fork.final, fork.final_reason = 502, "Bad Gateway"
        return out + self.fork_lost(now)

    def ack_fork(self, fork: Fork, body: bytes) -> list[Action]:
        assert fork.dialog is not None
        ack = fork.dialog.ack(fork.invite.cseq.number, self.via(fork.device.target), body)
        fork.ack = bytes(ack)
        return [SendRaw(fork.device.target, fork.ack)]

    def stop_ringing(self, winner: Fork | None, reason: str | None) -> list[Action]:
        """The ringing is over: no ring timeout, and every fork but ``winner`` still ringing
        gets CANCEL (with ``reason``) as soon as it may."""
        self.ring_deadline = None
        out: list[Action] = []
        for fork in self.forks:
            if fork is winner or fork.state in (ForkState.ANSWERED, ForkState.FAILED) or fork.cancel_wanted:
                continue
            fork.cancel_wanted = True
            fork.cancel_reason = reason
            if fork.state is ForkState.EARLY:
                out += self._send_cancel(fork)
        return out

    def _send_cancel(self, fork: Fork) -> list[Action]:
        """CANCEL as §9.1 builds it: the INVITE's Request-URI, top Via, From, To, Call-ID
        and CSeq number, with the reason when there is one (RFC 3326; the caller's own
        CANCEL passes its Reason on, and without one the phone logs a missed call)."""
        fork.cancel_sent = True
        inv = fork.invite
        headers = [Header("Via", str(inv.vias[0])), Header("Max-Forwards", "70")]
        headers += [Header("Route", hop) for hop in fork.device.route]  # the INVITE's Route (§9.1)
        for name in ("From", "To", "Call-ID"):
            headers.append(Header(name, inv.get(name) or ""))
        headers.append(Header("CSeq", f"{inv.cseq.number} CANCEL"))
        if fork.cancel_reason:
            headers.append(Header("Reason", fork.cancel_reason))
        headers.append(Header("Content-Length", "0"))
        cancel = Request("CANCEL", inv.uri, headers)
        return [SendRequest(cancel, fork.device.target, Ref("cancel", fork.id))]

    def _all_forks_failed(self, now: float) -> list[Action]:
        statuses = [(f.final or 500, f.final_reason) for f in self.forks]

        def rank(item: tuple[int, str]) -> tuple[int, int]:
            code = item[0]
            if code >= 600:
                return (0, code)
            if code == 486:
                return (1, code)
            if 400 <= code < 500 and code not in (408, 480, 487):
                return (2, code)
            return (3, code)

        status, reason = min(statuses, key=rank)
        if status >= 500 and status < 600 or status in (408, 487) or status < 400:
            status, reason = 480, "Temporarily Unavailable"
        disposition = "busy" if status in (486, 600, 603) else "no answer" if status == 480 else "failed"
        if disposition != "failed" and (fallen := self._fall_back(f"{status} {reason}")):
            return fallen
        self.a_final_sent = True
        return [Respond(self.tx, self.caller_response(status, reason)), *self.end(now, disposition, "callee", f"{status} {reason}")]

    # --- the caller gives up; the ring timeout --------------------------------------
    def on_cancel(self, now: float, reason: str | None = None, tx: Any = None) -> list[Action]:
        if tx is not None and tx is not self.tx:  # not the caller's INVITE: a feature's (a retriever's)
            for feature in self.features:
                taken = feature.on_cancel(self, tx, now)
                if taken is not None:
                    return taken
            return []
        if self.a_final_sent or self.phase is not Phase.RINGING:
            return []
        self.a_final_sent = True
        out: list[Action] = [Respond(self.tx, self.caller_response(487))]
        out += self.stop_ringing(None, reason)
        return out + self.end(now, "cancelled", "caller", "CANCEL")

    def get_timer(self) -> float | None:
        times = [u.next_at for u in self.unacked.values()] + [u.give_up_at for u in self.unacked.values()]
        if self.phase in SESSION_PHASES:
            times += [t.deadline() for t in self.timers.values()]
        for feature in self.features:
            deadline = feature.deadline(self)
            if deadline is not None:
                times.append(deadline)
        if self.ring_deadline is not None:
            times.append(self.ring_deadline)
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.ring_deadline is not None and now >= self.ring_deadline:
            self.ring_deadline = None
            out += self._ring_timeout(now)
        for feature in self.features:
            out += feature.due(self, now)
        for leg, timer in list(self.timers.items()):
            if self.phase in SESSION_PHASES and now >= timer.deadline():
                out += self._session_timer_due(leg, timer, now)
        for leg, unacked in list(self.unacked.items()):
            if now >= unacked.give_up_at:
                del self.unacked[leg]
                if leg in self.others:  # a supervisor's: it goes, the call stays
                    out += self.leave(leg, now)
                    continue
                out += self.hang_up(now, "switch", f"no ACK from the {'caller' if leg == 'a' else 'callee'}")
            elif now >= unacked.next_at:
                unacked.interval = min(2 * unacked.interval, self.t2)
                unacked.next_at = now + unacked.interval
                out.append(SendRaw(unacked.target, unacked.data))
        return out

    def _ring_timeout(self, now: float) -> list[Action]:
        """Nobody of this stage answered in time: the next stage, or the end of ringing."""
        if not self._forks_matter():
            return []
        timeout = self.stages[self.stage].timeout
        out = self.stop_ringing(None, 'SIP;cause=480;text="No answer"')
        if self.stage + 1 < len(self.stages):
            return out + self._next_stage(now)
        if self.ringer is not None:
            return out + self.ringer.nobody_answered(self, now)
        if fallen := self._fall_back(f"no answer in {timeout:g} s"):
            return out + fallen
        self.a_final_sent = True
        out.append(Respond(self.tx, self.caller_response(480, "No Answer")))
        return out + self.end(now, "no answer", "switch", f"no answer in {timeout:g} s")

    def announced(self, leg: str, now: float) -> list[Action]:
        """What an ``Announce`` played to ``leg`` has been heard."""
        out: list[Action] = []
        for feature in self.features:
            out += feature.on_played(self, leg, now)
        return out

    def silent(self, now: float) -> list[Action]:
        """What the caller says into a mailbox has been silence for long enough."""
        out: list[Action] = []
        for feature in self.features:
            out += feature.on_silence(self, now)
        return out

    def identity(self, leg: str) -> str:
        """Who is on ``leg``, as a name-addr (what a BLF lamp and P-Asserted-Identity show)."""
        dialog = self.leg(leg)
        return dialog.remote_uri if dialog is not None else ""

    # --- in-dialog requests ------------------------------------------------------------
    def leg(self, leg: str) -> Dialog | None:
        if leg == "a":
            return self.a
        return self.others.get(leg, self.b)

    def other(self, leg: str) -> str:
        return "b" if leg == "a" else "a"

    def _stale(self, leg: str, request: Request) -> bool:
        """Whether ``request`` comes in a dialog that was ``leg``'s and is not any more: a phone
        that left (a parker, a transferor) while another took its leg (a pick-up)."""
        dialog = self.leg(leg) if leg in ("a", "b") or leg in self.others else None  # not forks, nor a feature's own
        return dialog is not None and dialog.key != (request.call_id, request.to.tag or "")

    def on_request(self, leg: str, tx: Any, request: Request, now: float) -> list[Action]:
        method = request.method
        if self._stale(leg, request):
            return [Respond(tx, make_response(request, 481))]
        dialog = self.leg(leg)
        for feature in self.features:  # a leg a feature holds on its own
            taken = feature.on_request(self, leg, tx, request, now)
            if taken is not None:
                return taken
        if leg.startswith("fork:") or dialog is None or self.phase is not Phase.ANSWERED:
            if method == "OPTIONS":
                return [Respond(tx, self._options(request))]
            return [Respond(tx, make_response(request, 481))]
        try:
            dialog.accept(request)
        except RemoteProtocolError as exc:
            return [Respond(tx, make_response(request, exc.status_hint, "Server Internal Error (CSeq out of order)"))]
        if method == "REFER" and request.get("Refer-To") is None:  # RFC 3515 §2.4.1
            return [Respond(tx, make_response(request, 400, None))]
        if method in ("BYE", "REFER"):
            for feature in self.features:  # a parker leaving, a transfer
                taken = feature.on_bridged_request(self, leg, tx, request, now)
                if taken is not None:
                    return taken
        if method == "BYE":
            out: list[Action] = [Respond(tx, make_response(request, 200))]
            return out + self._bye_other(leg, request, now)
        if method == "OPTIONS":
            return [Respond(tx, self._options(request))]
        if method in ("INVITE", "UPDATE") and self._is_refresh(leg, request):
            return self._answer_refresh(leg, tx, request, now)
        if method == "INFO":  # passed on; a key in it may be part of a feature code
            key = info_key(request)
            return self._forward(leg, tx, request, now) + (self.on_key(leg, key, now) if key else [])
        if method == "INVITE" or method in FORWARDED:
            return self._forward(leg, tx, request, now)
        resp = make_response(request, 501, f"{method} Not Supported In A Call")
        resp.add("Allow", ALLOW)
        return [Respond(tx, resp)]

    def on_key(self, leg: str, key: str, now: float) -> list[Action]:
        """A key pressed on ``leg`` (RFC 4733 from the relay, or INFO): the first feature that
        wants it has it (a menu, a member pressing 1, a feature code such as park)."""
        for feature in self.features:
            taken = feature.on_key(self, leg, key, now)
            if taken is not None:
                return taken
        return []

    def _options(self, request: Request) -> Response:
        resp = make_response(request, 200)
        resp.add("Allow", ALLOW)
        resp.add("Accept", "application/sdp")
        return resp

    def _bye_other(self, leg: str, request: Request, now: float) -> list[Action]:
        other = self.leg(self.other(leg))
        assert other is not None
        who = "caller" if leg == "a" else "callee"
        return [self.bye(other, request.get("Reason")), *self.end(now, "answered", who, "BYE")]

    def hang_up(self, now: float, who: str, cause: str, disposition: str = "failed") -> list[Action]:
        """End the call from the switch (media timeout, missing ACK, shutdown, the end of an
        announcement)."""
        if self.phase is Phase.ENDED:
            return []
        out: list[Action] = []
        if self.phase in SESSION_PHASES:
            text = cause.replace('"', "'")
            for leg in ("a", "b"):  # a leg a feature holds (a member pressing 1) is its to end
                dialog = self.leg(leg)
                if dialog is not None and not any(f.owns_leg(self, leg) for f in self.features):
                    out.append(self.bye(dialog, f'SIP;cause=200;text="{text}"'))
        elif not self.a_final_sent:
            self.a_final_sent = True
            out.append(Respond(self.tx, self.caller_response(503, "Service Unavailable")))
            out += self.stop_ringing(None, 'SIP;cause=503;text="Shutting down"')
        return out + self.end(now, disposition, who, cause)

    def _forward(self, leg: str, tx: Any, request: Request, now: float) -> list[Action]:
        method = request.method
        other_leg = self.other(leg)
        other = self.leg(other_leg)
        assert other is not None
        if method == "INVITE" and (other_leg in self.pending or leg in self.pending or {"a", "b"} & self.unacked.keys()):
            return [Respond(tx, glare(request))]
        out: list[Action] = []
        if method == "INVITE":
            out.append(Respond(tx, make_response(request, 100)))
        body = request.body
        content_type = request.get("Content-Type")
        if body and method in ("INVITE", "UPDATE") and (content_type or "").lower().startswith("application/sdp"):
            try:
                body, media = self.relay(body, leg, narrow=True)
            except RemoteProtocolError as exc:
                return out + [Respond(tx, make_response(request, exc.status_hint))]
            out.append(media)
        extra = None
        theirs = self.timers.get(other_leg)
        if theirs is not None and method in ("INVITE", "UPDATE"):  # keep that leg's agreement as it is
            extra = [Header("Session-Expires", theirs.header(we_are_uac=True)), Header("Supported", session_timer.TAG)]
        forwarded = other.request(method, self.via(other.target), body=body, content_type=content_type, extra=extra)
        ref = Ref("forward", tx=tx, from_leg=leg, method=method, offer=bool(body), request=request)
        if method == "INVITE":
            self.pending[other_leg] = ref
        return out + [SendRequest(forwarded, other.target, ref)]

    # --- session timers (RFC 4028) ------------------------------------------------------
    def timer_headers(self, leg: str, request: Request, now: float) -> list[tuple[str, str]]:
        """Answering ``request`` (an INVITE or UPDATE) on ``leg`` with a 2xx: agree to the timer
        it asks for, or keep the one the leg has, and say so in the response (§9)."""
        timer = self.refreshed(leg, session_timer.as_uas(request, now), now)
        if timer is None:
            return []
        headers = [("Session-Expires", timer.header(we_are_uac=False))]
        if not timer.we_refresh:
            headers.append(("Require", session_timer.TAG))  # the phone refreshes: it must know
        return headers

    def refreshed(self, leg: str, agreed: LegTimer | None, now: float) -> LegTimer | None:
        if agreed is not None:
            self.timers[leg] = agreed
        timer = self.timers.get(leg)
        if timer is not None:
            timer.refreshed(now)
        return timer

    def _is_refresh(self, leg: str, request: Request) -> bool:
        """A re-INVITE or UPDATE that changes nothing but the session's lease: no SDP (UPDATE),
        or the same SDP again (the o= line unchanged, RFC 3264 §8).  The switch answers it
        itself; the other leg has its own timer and need not hear of it."""
        if leg not in self.timers and session_timer.session_expires(request) is None:
            return False
        if not request.body:
            return request.method == "UPDATE"
        try:
            origin = parse_sdp(request.body).first("o")
        except RemoteProtocolError:
            return False
        return origin is not None and origin == self.origin.get(leg)

    def _answer_refresh(self, leg: str, tx: Any, request: Request, now: float) -> list[Action]:
        dialog = self.leg(leg)
        assert dialog is not None
        if request.method == "INVITE" and (leg in self.pending or leg in self.unacked):
            return [Respond(tx, glare(request))]
        if session_timer.too_small(request):
            resp = make_response(request, 422, to_tag=dialog.local_tag)
            resp.add("Min-SE", str(session_timer.MIN_SE))
            return [Respond(tx, resp)]
        resp = make_response(request, 200, to_tag=dialog.local_tag)
        if request.method == "INVITE":
            resp.add("Contact", dialog.contact)
        resp.add("Supported", session_timer.TAG)
        for name, value in self.timer_headers(leg, request, now):
            resp.add(name, value)
        with_body(resp, self.sdp_sent.get(leg, b"") if request.body or request.method == "INVITE" else b"")
        if request.method == "INVITE":
            self.await_ack(leg, resp, dialog.target, request.cseq.number, now)
        return [Respond(tx, resp)]

    def _session_timer_due(self, leg: str, timer: LegTimer, now: float) -> list[Action]:
        who = "caller" if leg == "a" else "callee"
        if leg in self.others and (not timer.we_refresh or now >= timer.last + timer.seconds):
            return self.leave(leg, now)  # a supervisor's session over: it goes, the call stays
        if not timer.we_refresh or now >= timer.last + timer.seconds:
            return self.hang_up(now, "switch", f"session timer expired (no refresh with the {who})")
        dialog = self.leg(leg)
        assert dialog is not None
        timer.retry_at = timer.last + timer.seconds  # if nothing answers by then, the session is over
        if leg in self.pending or self.other(leg) in self.pending or leg in self.unacked:
            timer.retry_at = now + 2.0  # an offer is in progress there: refresh after it
            return []
        method = "UPDATE" if self.allows_update.get(leg) else "INVITE"
        body = self.sdp_sent.get(leg, b"") if method == "INVITE" else b""
        extra = [Header("Session-Expires", timer.header(we_are_uac=True)), Header("Supported", session_timer.TAG)]
        refresh = dialog.request(method, self.via(dialog.target), body=body, extra=extra)
        return [SendRequest(refresh, dialog.target, Ref("refresh", from_leg=leg, method=method))]

    def _refresh_response(self, ref: Ref, response: Response | None, now: float) -> list[Action]:
        leg = ref.from_leg
        dialog, timer = self.leg(leg), self.timers.get(leg)
        if response is not None and response.status < 200:
            return []
        if self.phase not in SESSION_PHASES or dialog is None or timer is None:
            if response is not None and response.status < 300 and dialog is not None and ref.method == "INVITE":
                return [SendRaw(dialog.target, bytes(dialog.ack(response.cseq.number, self.via(dialog.target))))]
            return []
        status = 408 if response is None else response.status
        if status in (408, 481):  # §10: the session is gone
            return self.hang_up(now, "switch", f"session refresh failed ({status})")
        if response is None or status >= 300:
            if response is not None and status == 422:  # our interval is below theirs: use theirs
                timer.seconds = max(timer.seconds, session_timer.min_se(response))
                timer.retry_at = now
            else:  # 491, 5xx ...: the session stands; try again until it would expire
                timer.retry_at = min(now + 5.0, timer.last + timer.seconds)
            return []
        out: list[Action] = []
        dialog.refresh_from_response(response)
        if ref.method == "INVITE":
            out.append(SendRaw(dialog.target, bytes(dialog.ack(response.cseq.number, self.via(dialog.target)))))
        if response.body:
            try:
                out.append(SetMedia.of(leg, parse_sdp(response.body)))
            except RemoteProtocolError:
                pass  # the answer to an unchanged offer: nothing to learn from a bad one
        self.refreshed(leg, session_timer.as_uac(response, now), now)
        return out

    def ports(self, leg: str) -> RelayPorts:
        return self.media.a if leg == "a" else self.media.b

    def _forward_response(self, ref: Ref, response: Response | None, now: float) -> list[Action]:
        if response is not None and response.status < 200:
            return []
        leg = ref.from_leg
        other_leg = self.other(leg)
        if ref.method == "INVITE":
            self.pending.pop(other_leg, None)
        dialog, other = self.leg(leg), self.leg(other_leg)
        if self.phase is not Phase.ANSWERED or dialog is None or other is None:
            return []
        status = 408 if response is None else response.status
        # The requester gets the same status and reason, and the body with SDP rewritten.
        body = b"" if response is None else response.body
        ctype = None if response is None else response.get("Content-Type")
        out: list[Action] = []
        if body and (ctype or "").lower().startswith("application/sdp") and ref.method in ("INVITE", "UPDATE"):
            try:
                body, media = self.relay(body, other_leg)
                out.append(media)
            except RemoteProtocolError:
                body = b""
        if response is not None and 200 <= status < 300:
            other.refresh_from_response(response)
            if ref.method in ("INVITE", "UPDATE"):  # a 2xx re-INVITE or UPDATE refreshes that leg's session
                self.refreshed(other_leg, session_timer.as_uac(response, now), now)
            if ref.method == "INVITE":
                if ref.offer:
                    ack = other.ack(response.cseq.number, self.via(other.target))
                    out.append(SendRaw(other.target, bytes(ack)))
                else:
                    self.late_ack[other_leg] = (other, response.cseq.number)
        reason = "Request Timeout" if response is None else response.reason
        return out + self.answer_request(ref, status, reason, body, ctype, now)

    def answer_request(self, ref: Ref, status: int, reason: str, body: bytes, ctype: str | None, now: float,
                          extra: list[tuple[str, str]] | None = None) -> list[Action]:
        request = ref.request
        dialog = self.leg(ref.from_leg)
        assert request is not None and dialog is not None
        resp = make_response(request, status, reason, to_tag=dialog.local_tag)
        success = ref.method == "INVITE" and 200 <= status < 300
        if success:
            resp.add("Contact", dialog.contact)
        if ref.method in ("INVITE", "UPDATE") and 200 <= status < 300:
            for name, value in [*self.timer_headers(ref.from_leg, request, now), *(extra or ())]:
                resp.add(name, value)
        with_body(resp, body, ctype)
        if success:
            self.await_ack(ref.from_leg, resp, dialog.target, request.cseq.number, now)
        return [Respond(ref.tx, resp)]

    def on_ack(self, leg: str, request: Request, now: float) -> list[Action]:
        """An ACK for a 2xx we sent on ``leg``: stop retransmitting; carry a late answer on."""
        if self._stale(leg, request):
            return []
        unacked = self.unacked.get(leg)
        if unacked is not None and request.cseq.number == unacked.cseq:
            del self.unacked[leg]
        for feature in self.features:  # e.g. the answer to the switch's own offer
            taken = feature.on_ack(self, leg, request, now)
            if taken is not None:
                return taken
        other_leg = self.other(leg)
        waiting = self.late_ack.pop(other_leg, None)
        if waiting is None:
            return []
        dialog, cseq = waiting
        out: list[Action] = []
        body = b""
        if request.body:
            try:
                body, media = self.relay(request.body, leg)
                out.append(media)
            except RemoteProtocolError:
                body = b""
        return out + [SendRaw(dialog.target, bytes(dialog.ack(cseq, self.via(dialog.target), body)))]
