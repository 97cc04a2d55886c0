"""Call transfer: blind (REFER to a number) and attended (REFER with Replaces naming the
transferor's other call), RFC 3515 and RFC 3891, as a B2BUA does them.

Theory of operation
-------------------
A party of a bridged call (the *transferor*, leg T) sends REFER; the other party is the
*transferee* (leg E).  The call asks the service what the target is (``TransferWanted``:
the service knows routing, permissions and the other calls) and holds the REFER until it
answers:

  * refused (unknown number, not permitted): the REFER gets the final status, the call
    goes on;
  * blind (``blind``): ``202`` and a NOTIFY ``100 Trying`` (sipfrag, RFC 3515 §2.4.4); the
    transferor leaves its leg (its dialog is kept aside for the NOTIFYs; a BYE from it is
    answered), the transferee hears music, and the target's stages ring on the free leg
    for the transferee (``handover``): offered its session, showing its identity in From and
    P-Asserted-Identity, with ``Referred-By`` naming the transferor.  The first answer takes
    the leg and the transferee is re-INVITEd with its session and identity; the transferor
    gets NOTIFY ``200 OK`` and, if still there, a BYE.  Nobody answering: the transferor
    gets NOTIFY with the failure; still on the line, it gets the transferee back (its leg
    and session as they were); gone, the service rings it back (``TransferFailed``,
    ``ring_back``), as after a park expires;
  * attended (``attended``): the target is the far end of the transferor's other call,
    named by the Replaces in Refer-To.  The service takes that phone out of its call
    (``Call.hand_off``; the other call then ends for the transferor) and gives it to this
    one: it takes the transferor's leg, is re-INVITEd with the transferee's session, and
    its answer goes on to the transferee in a re-INVITE with its identity.  The
    transferor gets NOTIFY ``200 OK`` and a BYE; nobody else hears a gap longer than the
    re-INVITE's round trip;
  * replaced (``replaced``): the other way (RFC 3891 §3), an INVITE with Replaces naming
    one phone of this answered call: the sender takes that phone's leg on the codec the far
    party has, the phone gets BYE, and the far party a re-INVITE with the sender's session
    and identity.

The call's history keeps the story (``CallRecord.parties``): the transferor leaves, the
target joins by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..sdp.model import parse_sdp
from ..sdp.offer_answer import answer_alone, common_voice, keep_voice, narrow_codecs, relay_view, sendrecv
from ..sip.dialog import Dialog
from ..sip.errors import RemoteProtocolError
from ..sip.headers import Replaces, parse_name_addr, parse_replaces
from ..sip.message import Header, Request, Response, make_response
from ..sip.transaction import Target
from ..sip.uri import SipUri, unescape
from . import handover, refer, session_timer
from .actions import (
    ALLOW,
    Action,
    BindDialog,
    Fork,
    Phase,
    Play,
    Ref,
    Respond,
    SendRaw,
    SendRequest,
    Stage,
    StopPlaying,
    TransferFailed,
    TransferWanted,
    allows,
    glare,
    with_body,
)
from .dtmf import INTER_KEY, Typed
from .feature import Feature, Offer

if TYPE_CHECKING:
    from .call import Call, Handoff

ASIDE = "transferor"  # the leg name the transferor's dialog answers to once it left its leg


@dataclass(frozen=True, slots=True)
class ReferTo:
    """What a REFER asks for: a number (blind), or a number with the dialog it replaces."""

    number: str
    replaces: Replaces | None = None


def refer_to(request: Request) -> ReferTo | None:
    """The Refer-To of a REFER as a transfer target, or None (not a SIP URI of a number)."""
    value = request.get("Refer-To")
    try:
        uri = parse_name_addr(value or "", "Refer-To").uri
    except RemoteProtocolError:
        return None
    if not isinstance(uri, SipUri):
        return None
    replaces = None
    for name, raw in uri.headers:
        if unescape(name).lower() == "replaces":
            try:
                replaces = parse_replaces(unescape(raw))
            except RemoteProtocolError:
                return None
    number = uri.user_unescaped or ""
    return ReferTo(number, replaces) if number or replaces else None


@dataclass
class Transferring:
    """A transfer in progress."""

    transferee: str  # leg E
    transferor: str  # leg T
    target: str
    by: str  # the transferor's extension (or number)
    refer: Request | None  # None: asked by keys
    refer_tx: Any = None  # until answered (202 or a refusal)
    notify: bool = True  # the REFER wants NOTIFYs (not ``Refer-Sub: false``, RFC 4488)
    aside: Dialog | None = None  # the transferor's dialog, once it left its leg
    gone: bool = False  # the transferor hung up
    ringing: bool = False  # the target (or the transferor, rung back) rings
    ringing_back: bool = False
    kept: Any = None  # what the transferor's leg had, to give the transferee back to it
    referred_by: str = ""


class Transfer(Feature):
    """Transfers on one call (module doc).  The service answers ``TransferWanted`` with
    ``refused``, ``blind`` or ``attended``, and ``TransferFailed`` with ``ring_back``."""

    def __init__(self, code: str | None = None) -> None:
        self.state: Transferring | None = None
        self.code = code  # typed in a call, then a number and '#' (or a pause): blind transfer by keys
        self.typed: dict[str, Typed] = {}
        self.dialling: tuple[str, str, float] | None = None  # after the code: (leg, number so far, when it is done)

    # --- by keys --------------------------------------------------------------------------
    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        """The transfer code, then the number, ended by ``#`` or a pause (``INTER_KEY``)."""
        if call.phase is not Phase.ANSWERED or not self.code or call.extensions.get(leg) is None or self.state is not None:
            return None
        if self.dialling is not None and self.dialling[0] == leg:
            number = self.dialling[1]
            if key.isdigit():
                self.dialling = (leg, number + key, now + INTER_KEY)
                return []
            self.dialling = None
            return self.by_keys(call, leg, number) if key == "#" and number else []
        if self.typed.setdefault(leg, Typed()).add(key, now, len(self.code)) != self.code:
            return None
        self.typed.clear()
        self.dialling = (leg, "", now + INTER_KEY)
        return []

    def deadline(self, call: Call) -> float | None:
        return self.dialling[2] if self.dialling is not None else None

    def due(self, call: Call, now: float) -> list[Action]:
        if self.dialling is None or now < self.dialling[2]:
            return []
        leg, number, _ = self.dialling
        self.dialling = None
        return self.by_keys(call, leg, number) if number else []

    # --- asked to transfer ---------------------------------------------------------------
    def on_bridged_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        if request.method != "REFER":
            return None
        target = refer_to(request)
        if target is None:
            return [Respond(tx, make_response(request, 501, "Transfer Target Not Supported"))]
        if self.state is not None or call.pending:
            return [Respond(tx, glare(request))]
        other = call.other(leg)
        self.state = Transferring(other, leg, target.number, _who(call, leg), request, tx, refer.subscribed(request),
                                  referred_by=request.get("Referred-By") or call.identity(leg))
        return [TransferWanted(other, leg, target.number, target.replaces)]

    def by_keys(self, call: Call, leg: str, number: str) -> list[Action]:
        """The phone on ``leg`` typed a transfer code and a number: a blind transfer."""
        if self.state is not None or call.pending or call.phase is not Phase.ANSWERED:
            return []
        other = call.other(leg)
        self.state = Transferring(other, leg, number, _who(call, leg), None, notify=False,
                                  referred_by=call.identity(leg))
        return [TransferWanted(other, leg, number)]

    def refused(self, call: Call, status: int, reason: str, now: float) -> list[Action]:
        """The target cannot be rung (unknown, not permitted, no such call to replace)."""
        state, self.state = self.state, None
        if state is None or state.refer is None or state.refer_tx is None:
            return []
        return [Respond(state.refer_tx, make_response(state.refer, status, reason))]

    def _accept(self, call: Call, state: Transferring) -> list[Action]:
        """202 (RFC 3515 §2.4.2) and NOTIFY 100 Trying."""
        if state.refer is None or state.refer_tx is None:
            return []
        tx, request = state.refer_tx, state.refer
        state.refer_tx = None
        resp = refer.accepted(request, call.leg(state.transferor), state.notify)
        return [Respond(tx, resp), *self._notify(call, state, "SIP/2.0 100 Trying", final=False)]

    def _notify(self, call: Call, state: Transferring, status_line: str, *, final: bool) -> list[Action]:
        dialog = state.aside or call.leg(state.transferor)
        if state.refer is None or not state.notify or state.gone or dialog is None:
            return []
        return [refer.notify(call, dialog, status_line, final=final)]

    def _let_go(self, call: Call, state: Transferring, why: str) -> list[Action]:
        """The transferor's part is over: BYE it unless it hung up already."""
        dialog = state.aside
        state.aside = None
        if dialog is None or state.gone:
            return []
        state.gone = True
        return [call.bye(dialog, f'SIP;cause=200;text="{why}"')]

    # --- blind ------------------------------------------------------------------------
    def blind(self, call: Call, stages: list[Stage], now: float) -> list[Action]:
        """Ring ``stages`` (the target) for the transferee; the transferor steps aside."""
        state = self.state
        if state is None or call.phase is not Phase.ANSWERED:
            return []
        stages = [s for s in stages if s.devices]
        if not stages:
            return self.refused(call, 480, "Temporarily Unavailable", now)
        out = self._accept(call, state)
        dialog = call.leg(state.transferor)
        assert dialog is not None
        if state.refer is None:  # by keys: nobody to tell how it goes, and the transferor is done
            state.notify = False
        state.kept = (dialog, call.extensions.get(state.transferor), call.allows_update.get(state.transferor, False),
                      call.timers.get(state.transferor), call.sdp_from.get(state.transferor), call.sdp_sent.get(state.transferor))
        state.aside = dialog
        out += [BindDialog(dialog.key, ASIDE), *call.leave(state.transferor, now)]
        call.record.left(state.by, call.wall(now))
        call.enter(Phase.TRANSFERRING)
        state.ringing = True
        out.append(Play(state.transferee, handover.voice(call, state.transferee)))
        if state.refer is None:
            out += self._let_go(call, state, "Call transferred")
        return out + call.ring(stages, now, self)

    def rings(self, call: Call) -> bool:
        return self.state is not None and self.state.ringing and call.phase is Phase.TRANSFERRING

    def fork_offer(self, call: Call) -> Offer:
        state = self.state
        assert state is not None
        identity = call.identity(state.transferee)
        if state.ringing_back:
            return handover.offer(call, state.transferee, state.transferor, "Returned")
        headers = (("P-Asserted-Identity", identity), ("Referred-By", state.referred_by)) if identity else ()
        return handover.offer(call, state.transferee, state.transferor, "", headers)

    def fork_answered(self, call: Call, fork: Fork, response: Response, now: float, *, acked: bool) -> list[Action]:
        state = self.state
        if state is None or not self.rings(call) or call.pending:
            return call.too_late(fork, acked=acked)
        out = handover.take(call, fork, response, state.transferor, state.transferee, now, self)
        if call.phase is not Phase.ANSWERED:
            return out  # its answer was unusable: the next fork, or nobody
        who = fork.device.member or call.stages[fork.stage].label
        role = "ring-back" if state.ringing_back else "blind transfer"
        call.record.joined(who, role, call.wall(now), by=state.by)
        out += self._notify(call, state, "SIP/2.0 200 OK", final=True)
        out += self._let_go(call, state, "Call transferred")
        self.state = None
        return out

    def nobody_answered(self, call: Call, now: float) -> list[Action]:
        state = self.state
        if state is None:
            return call.hang_up(now, "switch", "transfer target did not answer")
        state.ringing = False
        if state.ringing_back:
            return call.hang_up(now, "switch", f"transfer to {state.target} failed; nobody answered the ring-back")
        failed = [f for f in call.forks if f.stage >= 0 and f.final is not None]
        final = failed[-1] if failed else None
        line = f"SIP/2.0 {final.final} {final.final_reason}" if final is not None and final.final else "SIP/2.0 480 Temporarily Unavailable"
        out = self._notify(call, state, line, final=True)
        if state.aside is not None and not state.gone:
            return out + self._give_back(call, state, now)
        return out + [TransferFailed()]

    def _give_back(self, call: Call, state: Transferring, now: float) -> list[Action]:
        """The target did not answer and the transferor is still on the line: the
        transferee is the transferor's again, on the session both had."""
        dialog, extension, update, timer, heard, sent = state.kept
        call.join(state.transferor, dialog, extension=extension, update=update, timer=timer)
        if sent is not None:
            call.sdp_sent[state.transferor] = sent
        out: list[Action] = [BindDialog(dialog.key, state.transferor)]
        if heard is not None:
            out.append(call.heard(state.transferor, heard))
        call.enter(Phase.ANSWERED)
        call.record.joined(state.by, "transfer returned", call.wall(now))
        self.state = None
        return out + [StopPlaying(state.transferee)]

    def ring_back(self, call: Call, stages: list[Stage], now: float) -> list[Action]:
        """Ring the transferor (then a fallback) for the transferee whose transfer failed."""
        state = self.state
        if state is None or call.phase is not Phase.TRANSFERRING:
            return []
        stages = [s for s in stages if s.devices]
        if not stages:
            return call.hang_up(now, "switch", f"transfer to {state.target} failed; no phone to ring back")
        state.ringing, state.ringing_back = True, True
        return call.ring(stages, now, self)

    # --- attended ---------------------------------------------------------------------
    def attended(self, call: Call, target: Handoff, now: float) -> list[Action]:
        """The far end of the transferor's other call (``target``, taken out of it by the
        service) takes the transferor's leg here."""
        state = self.state
        if state is None or call.phase is not Phase.ANSWERED:
            return []
        out = self._accept(call, state)
        transferor, transferee = state.transferor, state.transferee
        old = call.leg(transferor)
        assert old is not None
        state.aside = old
        out += self._notify(call, state, "SIP/2.0 200 OK", final=True)
        out += [BindDialog(old.key, ASIDE), *call.leave(transferor, now), *self._let_go(call, state, "Call transferred")]
        dialog = target.dialog
        call.join(transferor, dialog, extension=target.extension, update=target.update, timer=target.timer)
        if target.session is not None:  # where it listens: the relay sends it the transferee's voice at once
            out.append(call.heard(transferor, target.session))
        wall = call.wall(now)
        call.record.left(state.by, wall)
        call.record.joined(_who(call, transferor), "attended transfer", wall, by=state.by)
        body = bytes(relay_view(sendrecv(call.sdp_from[transferee]), call.media.address, call.ports(transferor)))
        call.sdp_sent[transferor] = body
        extra = [Header("P-Asserted-Identity", call.identity(transferee))]
        if target.timer is not None:
            extra += [Header("Session-Expires", target.timer.header(we_are_uac=True)), Header("Supported", session_timer.TAG)]
        reinvite = dialog.request("INVITE", call.via(dialog.target), body=body, content_type="application/sdp", extra=extra)
        ref = Ref("joined", from_leg=transferee, method="INVITE", offer=True, feature=self)
        call.pending[transferor] = ref
        self.state = None
        return out + [BindDialog(dialog.key, transferor), SendRequest(reinvite, dialog.target, ref)]

    def _joined(self, call: Call, ref: Ref, response: Response | None, now: float) -> list[Action]:
        """The transfer target's answer to its re-INVITE: on to the transferee."""
        if response is not None and response.status < 200:
            return []
        new = call.other(ref.from_leg)
        call.pending.pop(new, None)
        dialog = call.leg(new)
        status = 408 if response is None else response.status
        if response is None or status >= 300 or dialog is None or call.phase is not Phase.ANSWERED:
            if call.phase is Phase.ANSWERED:
                return call.hang_up(now, "switch", f"attended transfer: the target refused the session ({status})")
            return []
        dialog.refresh_from_response(response)
        call.refreshed(new, session_timer.as_uac(response, now), now)
        out: list[Action] = [SendRaw(dialog.target, bytes(dialog.ack(response.cseq.number, call.via(dialog.target))))]
        try:
            view, media = call.relay(response.body, new)
        except RemoteProtocolError as exc:
            return out + call.hang_up(now, "switch", f"attended transfer: the target's answer: {exc.reason}")
        return out + [media, *handover.reinvite_held(call, ref.from_leg, new, view, self)]

    # --- replaced by an INVITE --------------------------------------------------------
    def replaced(self, call: Call, leg: str, invite: Request, tx: Any, source: Target, who: str | None,
                 now: float) -> list[Action]:
        """An INVITE with Replaces naming the phone on ``leg`` of this answered call (RFC 3891
        §3): an attended transfer done the other way, or a call pulled to another phone.  The
        sender (``who``, its extension) takes the leg on the codec the far party has, the phone
        that had it gets BYE, and the far party is re-INVITEd with the new phone's session and
        identity (its answer: ``handover.answered``)."""
        tag = call.new_id()
        if call.phase is not Phase.ANSWERED or self.state is not None or call.pending:
            status = 491 if call.phase is Phase.ANSWERED else 481  # busy with another offer, or no call to replace
            return [Respond(tx, make_response(invite, status, to_tag=tag))]
        far, old = call.other(leg), call.leg(leg)
        assert old is not None
        try:
            theirs = narrow_codecs(parse_sdp(invite.body)) if invite.body else None
            current = call.sdp_from.get(far)
            codec = common_voice(current, theirs) if theirs is not None and current is not None else None
            if theirs is None or codec is None:
                raise RemoteProtocolError("no G.711 codec in common with the party on the call", 488)
            answer = answer_alone(theirs, call.media.address, call.ports(leg), call.new_id(), (codec,))
            offer = bytes(relay_view(sendrecv(keep_voice(theirs, (codec,))), call.media.address, call.ports(far)))
        except RemoteProtocolError as exc:
            return [Respond(tx, make_response(invite, exc.status_hint, exc.reason[:60], to_tag=tag))]
        gone = _who(call, leg)
        out: list[Action] = [*call.leave(leg, now), BindDialog(old.key, ASIDE),  # a BYE crossing ours is answered
                             call.bye(old, 'SIP;cause=200;text="Call replaced"')]
        dialog = Dialog.as_uas(invite, tag, call.locality.contact(source.transport), source)
        call.join(leg, dialog, extension=who, update=allows(invite, "UPDATE"))
        out += [BindDialog(dialog.key, leg), call.heard(leg, theirs)]
        body = bytes(answer)
        call.sdp_sent[leg], call.sdp_sent[far] = body, offer
        ok = make_response(invite, 200, to_tag=tag)
        for name, value in [("Contact", dialog.contact), ("Allow", ALLOW), ("Supported", session_timer.TAG),
                            ("P-Asserted-Identity", call.identity(far)), *call.timer_headers(leg, invite, now)]:
            ok.add(name, value)
        with_body(ok, body)
        call.await_ack(leg, ok, source, invite.cseq.number, now)
        out.append(Respond(tx, ok))
        wall = call.wall(now)
        call.record.left(gone, wall)
        call.record.joined(who or _who(call, leg), "replaces", wall, by=gone)
        return out + handover.reinvite_held(call, far, leg, offer, self)

    # --- the feature's other hooks ------------------------------------------------------
    def on_response(self, call: Call, ref: Ref, response: Response | None, now: float) -> list[Action]:
        if ref.kind == "joined":
            return self._joined(call, ref, response, now)
        return handover.answered(call, ref, response, now)

    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        if leg == ASIDE:  # the transferor, stepped aside: its BYE (or anything else) ends nothing
            state = self.state
            if request.method == "BYE":
                if state is not None:
                    state.gone = True
                return [Respond(tx, make_response(request, 200))]
            return [Respond(tx, make_response(request, 481))]
        if call.phase is not Phase.TRANSFERRING or self.state is None or leg != self.state.transferee:
            return None

        def bye() -> list[Action]:
            return call.end(now, "answered", "transferee", "BYE while being transferred")

        answered = call.lone_request(leg, tx, request, now, bye=bye)
        return answered if answered is not None else [Respond(tx, make_response(request, 491 if request.method == "REFER" else 480))]

    def on_end(self, call: Call, cause: str) -> list[Action]:
        state, self.state = self.state, None
        if state is None:
            return []
        return self._notify(call, state, "SIP/2.0 487 Request Terminated", final=True) + self._let_go(call, state, cause)


def _who(call: Call, leg: str) -> str:
    """The party on ``leg`` as the history names it: its extension, else its number."""
    extension = call.extensions.get(leg)
    if extension:
        return extension
    try:
        uri = parse_name_addr(call.identity(leg), "From").uri
    except RemoteProtocolError:
        return "?"
    return (uri.user_unescaped or "?") if isinstance(uri, SipUri) else "?"
