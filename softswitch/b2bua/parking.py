"""Call park inside a call: one party leaves, the other waits in a slot, someone picks it up.

Theory of operation
-------------------
A call has two legs.  To park, the *parker* on one leg sends REFER (RFC 3515) with
``Refer-To`` the park code (``*85``) or a slot code (``*801``).  The call asks
the service which slot (``ParkWanted``: the service owns the lot and the store)
and holds the REFER until it answers:

  * refused (a full lot, a taken slot, not a park code): the REFER gets the final
    status, and the call goes on as before;
  * accepted: ``202`` and a NOTIFY ``100 Trying`` (sipfrag, RFC 3515 §2.4.4), then,
    once the slot is claimed, NOTIFY ``200 OK`` (subscription terminated), a
    MESSAGE to the parker's phone ("Call parked at *801"), and a BYE to the
    parker.  A parker that hangs up first (many phones do, right after the 202)
    leaves without taking the parked party with it.

Parked, the call has one leg: the parked party hears music from its own relay
port (``Play``), the parker's relay leg forgets its phone (``Detach``).  The
parked party's re-INVITEs and UPDATEs are answered here; its BYE ends the call.

To pick up, a phone's INVITE to the slot code becomes the new other leg: the
switch sends the parked party a re-INVITE with the retriever's offer (and the
retriever's identity in P-Asserted-Identity), and answers the retriever with the
parked party's answer and identity.  A refusal from the parked party goes back to
the retriever and the call stays parked.

Where the parked party goes when nobody picks it up is the service's decision
(``ParkExpired``).  To ring someone back (the parker, an extension) the service
gives the call stages to ring on the parker's free leg (``ring_back``): the
ordinary forks, offered the parked party's session taken off hold and showing
the parked party as the caller, while the music goes on.  The first answer takes
the leg; the parked party gets a re-INVITE with that phone's session (off hold,
and its identity), and the call is answered again.  Nobody answering ends the
call.  A pick-up while the ring-back rings still wins and cancels it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..sip.dialog import Dialog
from ..sip.errors import RemoteProtocolError
from ..sip.headers import parse_name_addr
from ..sip.message import Header, Request, Response, make_response
from ..sip.transaction import Target
from ..sip.uri import SipUri
from ..sounds import spoken_code
from . import handover, refer, session_timer
from .actions import (
    ALLOW,
    COMPLETED_ELSEWHERE,
    Action,
    Announce,
    BindDialog,
    Fork,
    ParkExpired,
    ParkWanted,
    Phase,
    Play,
    Ref,
    Respond,
    SendRaw,
    SendRequest,
    Stage,
    StopPlaying,
    allows,
    glare,
)
from .dtmf import Typed
from .feature import Feature, Offer

if TYPE_CHECKING:
    from .call import Call


@dataclass
class Parking:
    """A park in progress, then done: who is parked and who parked."""

    parked_leg: str
    parker_leg: str
    refer: Request | None  # the REFER, until its outcome is told (None for a park by key presses)
    refer_tx: Any = None  # its server transaction, until it is answered (202 or a refusal)
    notify: bool = True  # the REFER wants NOTIFYs (not ``Refer-Sub: false``, RFC 4488)
    parker_gone: bool = False
    expires_at: float | None = None
    ringing: bool = False  # expired, and ringing someone (the parker) back
    announcing: bool = False  # parked by key presses: the parker hears the code, then is let go


# What a parker who used the keys hears when the park cannot happen.
REFUSED_PROMPTS = {503: "lot-full", 486: "slot-taken"}


def refer_target(request: Request) -> str | None:
    """The user part of ``Refer-To`` (``*85``), or None for a target that is not a plain SIP
    URI of a number (an attended transfer's ``Replaces`` included)."""
    value = request.get("Refer-To")
    if value is None:
        return None
    try:
        uri = parse_name_addr(value, "Refer-To").uri
    except RemoteProtocolError:
        return None
    if not isinstance(uri, SipUri) or uri.headers:
        return None
    return uri.user_unescaped or None



@dataclass
class WaitingPickUp:
    invite: Request
    tx: Any
    source: Target
    retriever: str


class CallPark(Feature):
    """Call park on one call: asked by REFER or by the park ``code`` typed in the call.
    The service answers ``ParkWanted`` with ``refused``, or ``accepted`` then ``parked``;
    it calls ``pick_up`` for a phone dialling the slot and ``ring_back`` when the park
    expires."""

    def __init__(self, code: str | None = None, codes: Callable[[str | None, str], bool] | None = None) -> None:
        self.code = code  # typed in the call (RFC 4733 or INFO) by a phone of the account: park
        # Whether a REFER's target is a park code for the extension on the referring leg (its
        # site's); others are another feature's (transfer).  None: every plain number is.
        self.codes = codes
        self.parking: Parking | None = None  # a park in progress, or done
        self.typed: dict[str, Typed] = {}
        # A pick-up that came while the slot was claimed but the park not done (a BLF key
        # pressed as the lamp lit): it waits, and is handled once the call is parked.
        self.waiting: WaitingPickUp | None = None

    # --- the feature's hooks -----------------------------------------------------------
    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        parking = self.parking
        if call.phase is Phase.PARKED and parking is not None and leg in (parking.parked_leg, parking.parker_leg):
            return self.parked_request(call, leg, tx, request, now)
        return None

    def on_bridged_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        if request.method == "BYE":
            return self.parker_bye(call, leg, tx, request, now)
        return self.on_refer(call, leg, tx, request, now)

    def on_response(self, call: Call, ref: Ref, response: Response | None, now: float) -> list[Action]:
        if ref.kind == "retrieve":
            return self.retrieve_response(call, ref, response, now)
        return handover.answered(call, ref, response, now)

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        code = self.code
        if not code or call.phase is not Phase.ANSWERED or call.extensions.get(leg) is None:
            return None
        typed = self.typed.setdefault(leg, Typed())
        if typed.add(key, now, len(code)) != code:
            return None
        self.typed.clear()
        return self.key_park(call, leg)

    def on_cancel(self, call: Call, tx: Any, now: float) -> list[Action] | None:
        waiting = self.waiting
        if waiting is not None and waiting.tx is tx:  # gave up before the park was done
            self.waiting = None
            return [Respond(tx, make_response(waiting.invite, 487, to_tag=call.new_id()))]
        return self.cancel_pick_up(call, tx, now)

    def on_end(self, call: Call, cause: str) -> list[Action]:
        return self._not_parked(call)

    def on_played(self, call: Call, leg: str, now: float) -> list[Action]:
        return self.announced(call, leg, now)

    def due(self, call: Call, now: float) -> list[Action]:
        return self.expiry(call, now)

    def rings(self, call: Call) -> bool:
        return self.ringing_back(call) is not None

    def fork_offer(self, call: Call) -> Offer:
        parking = self.parking
        assert parking is not None
        label = " ".join(w for w in ("Parked", call.record.park_slot) if w)
        return handover.offer(call, parking.parked_leg, parking.parker_leg, label)

    def fork_answered(self, call: Call, fork: Fork, response: Response, now: float, *, acked: bool) -> list[Action]:
        back = self.ringing_back(call)
        if back is None or call.pending:  # not while a pick-up is being bridged
            return call.too_late(fork, acked=acked)
        return self.rung_back(call, back, fork, response, now)

    # --- asking to park -------------------------------------------------------------------
    def on_refer(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        target = refer_target(request)
        if self.codes is not None and (target is None or not self.codes(call.extensions.get(leg), target)):
            return None  # not a park: a transfer
        if target is None:
            return [Respond(tx, make_response(request, 501, "Transfer Target Not Supported"))]
        if self.parking is not None or call.pending:
            return [Respond(tx, glare(request))]
        self.parking = Parking(call.other(leg), leg, request, tx, refer.subscribed(request))
        return [ParkWanted(call.other(leg), leg, target)]

    def key_park(self, call: Call, leg: str) -> list[Action]:
        """The phone on ``leg`` typed the park code during the call: park the other party."""
        if self.parking is not None or call.pending or not self.code:
            return []
        self.parking = Parking(call.other(leg), leg, None, notify=False)
        return [ParkWanted(call.other(leg), leg, self.code)]

    def refused(self, call: Call, status: int, reason: str, now: float) -> list[Action]:
        """The park cannot happen (lot full, slot taken, no such code): the REFER fails, or its
        NOTIFY says so once accepted; the call goes on (or ends, if the parker left)."""
        parking = self.parking
        if parking is None:
            return []
        self.parking = None
        out: list[Action] = []
        if parking.refer_tx is not None and parking.refer is not None:
            out.append(Respond(parking.refer_tx, make_response(parking.refer, status, reason)))
        elif parking.refer is not None:
            out += self._notify_refer(call, parking, f"SIP/2.0 {status} {reason}", final=True)
        elif status in REFUSED_PROMPTS and not parking.parker_gone:  # parked by keys: say why not
            out.append(Announce(parking.parker_leg, (REFUSED_PROMPTS[status],), handover.voice(call, parking.parker_leg)))
        if parking.parker_gone:
            out += call.hang_up(now, "switch", f"park failed: {status} {reason}")
        return out + self._not_parked(call)

    def _not_parked(self, call: Call) -> list[Action]:
        """A pick-up waiting for a park that did not happen (or a call that ended) is refused."""
        waiting, self.waiting = self.waiting, None
        if waiting is None:
            return []
        return [Respond(waiting.tx, make_response(waiting.invite, 480, "Call Not Parked", to_tag=call.new_id()))]

    def accepted(self, call: Call) -> list[Action]:
        """The service will try: 202 (RFC 3515 §2.4.2) and a first NOTIFY."""
        parking = self.parking
        if parking is None or parking.refer is None or parking.refer_tx is None:
            return []
        tx, request = parking.refer_tx, parking.refer
        parking.refer_tx = None
        resp = refer.accepted(request, call.leg(parking.parker_leg), parking.notify)
        return [Respond(tx, resp), *self._notify_refer(call, parking, "SIP/2.0 100 Trying", final=False)]

    def _notify_refer(self, call: Call, parking: Parking, status_line: str, *, final: bool) -> list[Action]:
        dialog = call.leg(parking.parker_leg)
        if not parking.notify or parking.parker_gone or dialog is None:
            return []
        return [refer.notify(call, dialog, status_line, final=final)]

    # --------------------------------------------------------------------------- parked

    def parked(self, call: Call, code: str, expires_at: float, parker: str, now: float) -> list[Action]:
        """The slot is ours: tell the parker (NOTIFY, MESSAGE, or the code spoken when it parked
        with keys), let it go, and play music to the parked party until someone picks it up or
        ``expires_at``."""
        parking = self.parking
        if parking is None or call.phase is Phase.ENDED:
            return []
        parking.expires_at = expires_at
        by_keys = parking.refer is None
        out: list[Action] = []
        if parking.refer is not None:
            out += self._notify_refer(call, parking, "SIP/2.0 200 OK", final=True)
            parking.refer = None
        device = call.leg(parking.parker_leg)
        if device is not None:  # a parker that already hung up still gets the text on its phone
            out.append(SendRequest(self._text_message(call, device, f"Call parked at {code}"), device.target, Ref("message")))
        call.enter(Phase.PARKED)
        rec = call.record
        rec.park_slot, rec.parked_by, rec.parked_at = code, parker, call.wall(now)
        rec.left(parker, rec.parked_at)
        rec.retrieved_by = rec.retrieved_at = None
        out.append(Play(parking.parked_leg, handover.voice(call, parking.parked_leg)))
        if device is not None and not parking.parker_gone and by_keys:
            # Parked by keys: the parker is on the line and hears the code, then is let go (``announced``).
            parking.announcing = True
            out.append(Announce(parking.parker_leg, ("parked-at", *spoken_code(code)), handover.voice(call, parking.parker_leg)))
        else:
            out += self._parker_leaves(call, parking.parker_leg, now)
        waiting, self.waiting = self.waiting, None
        if waiting is not None:  # a pick-up came while the slot was being claimed: now it is parked
            out += self.pick_up(call, waiting.invite, waiting.tx, waiting.source, waiting.retriever, now)
        return out

    def _parker_leaves(self, call: Call, leg: str, now: float) -> list[Action]:
        """BYE to the parker (unless it hung up already) and its leg is gone from the call."""
        parking, device = self.parking, call.leg(leg)
        out: list[Action] = []
        if parking is not None and not parking.parker_gone and device is not None:
            out.append(call.bye(device, f'SIP;cause=200;text="Call parked at {call.record.park_slot}"'))
        return out + call.leave(leg, now)

    def announced(self, call: Call, leg: str, now: float) -> list[Action]:
        """The parker heard the code (or why the park failed): let it go, or nothing."""
        parking = self.parking
        if parking is None or not parking.announcing or leg != parking.parker_leg:
            return []
        parking.announcing = False
        return self._parker_leaves(call, leg, now)

    def _text_message(self, call: Call, dialog: Dialog, text: str) -> Request:
        """A MESSAGE (RFC 3428) to the phone of ``dialog``, outside the dialog."""
        to = parse_name_addr(dialog.remote_uri, "To")
        host = to.uri.host if isinstance(to.uri, SipUri) else "localhost"
        body = text.encode()
        headers = [
            Header("Via", call.via(dialog.target)), Header("Max-Forwards", "70"),
            Header("From", f'"Park" <sip:park@{host}>;tag={call.new_id()}'), Header("To", dialog.remote_uri),
            Header("Call-ID", f"{call.new_id()}{call.new_id()}"), Header("CSeq", "1 MESSAGE"),
            Header("User-Agent", call.locality.user_agent),
            Header("Content-Type", "text/plain;charset=utf-8"), Header("Content-Length", str(len(body))),
        ]
        return Request("MESSAGE", dialog.remote_target, headers, body)

    def parked_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action]:
        """An in-dialog request from the parked party (or a parker still hearing the code)."""

        def bye() -> list[Action]:
            parking = self.parking
            if parking is not None and parking.announcing and leg == parking.parker_leg:
                parking.announcing, parking.parker_gone = False, True  # the parker did not wait for the code
                return call.leave(leg, now)
            return call.end(now, "answered", "parked party", "BYE while parked")

        answered = call.lone_request(leg, tx, request, now, bye=bye)
        return answered if answered is not None else [Respond(tx, make_response(request, 480, "Call Is Parked"))]

    def parker_bye(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        """BYE from the parker while its park is in progress: it leaves alone.  None when the
        BYE is not that."""
        parking = self.parking
        if parking is None or leg != parking.parker_leg or parking.parker_gone:
            return None
        parking.parker_gone = True
        return [Respond(tx, make_response(request, 200))]

    # --------------------------------------------------------------------------- picked up

    def pick_up(self, call: Call, invite: Request, tx: Any, source: Target, retriever: str, now: float) -> list[Action]:
        """A phone dialled the slot: bridge it to the parked party (see the module doc).  The
        retriever takes the parker's place (its leg name and relay port)."""
        parking = self.parking
        if parking is not None and call.phase is Phase.ANSWERED and not call.pending and self.waiting is None:
            # The slot is claimed, the park not yet done (the store's answer is on its way).
            self.waiting = WaitingPickUp(invite, tx, source, retriever)
            return [Respond(tx, make_response(invite, 100))]
        if call.phase is not Phase.PARKED or parking is None or call.pending:
            return [Respond(tx, make_response(invite, 486, "Already Being Picked Up", to_tag=call.new_id()))]
        held, new = parking.parked_leg, parking.parker_leg
        parked = call.leg(held)
        assert parked is not None
        out: list[Action] = self.announced(call, new, now)  # a parker still hearing the code is let go first
        dialog = Dialog.as_uas(invite, call.new_id(), call.locality.contact(source.transport), source)
        call.join(new, dialog, extension=retriever, update=allows(invite, "UPDATE"))
        out += [Respond(tx, make_response(invite, 100)), BindDialog(dialog.key, new)]
        body = invite.body
        if body:
            try:
                body, media = call.relay(body, new, narrow=True)
            except RemoteProtocolError as exc:
                return out + call.leave(new, now) + [Respond(tx, make_response(invite, exc.status_hint, to_tag=dialog.local_tag))]
            out.append(media)
        extra = [Header("P-Asserted-Identity", dialog.remote_uri)]  # who the parked party now talks to
        timer = call.timers.get(held)
        if timer is not None:
            extra += [Header("Session-Expires", timer.header(we_are_uac=True)), Header("Supported", session_timer.TAG)]
        reinvite = parked.request("INVITE", call.via(parked.target), body=body, content_type=invite.get("Content-Type"), extra=extra)
        ref = Ref("retrieve", tx=tx, from_leg=new, method="INVITE", offer=bool(body), request=invite, feature=self)
        call.pending[held] = ref
        return out + [SendRequest(reinvite, parked.target, ref)]

    def cancel_pick_up(self, call: Call, tx: Any, now: float) -> list[Action]:
        """The retriever hung up before the parked party answered the re-INVITE: 487, and the
        call stays parked (the late answer is ACKed and changes nothing)."""
        parking = self.parking
        ref = call.pending.get(parking.parked_leg) if parking is not None else None
        if parking is None or ref is None or ref.kind != "retrieve" or ref.tx is not tx or ref.request is None:
            return []
        call.pending[parking.parked_leg] = Ref("retrieve", from_leg=ref.from_leg, method="INVITE", offer=ref.offer, feature=self)
        dialog = call.leg(ref.from_leg)
        out = call.leave(ref.from_leg, now)
        return out + [Respond(tx, make_response(ref.request, 487, to_tag=dialog.local_tag if dialog else None))]

    def retrieve_response(self, call: Call, ref: Ref, response: Response | None, now: float) -> list[Action]:
        if response is not None and response.status < 200:
            return []
        parking = self.parking
        new = ref.from_leg
        held = call.other(new)
        call.pending.pop(held, None)
        status = 408 if response is None else response.status
        parked, retriever = call.leg(held), call.leg(new)
        if parking is None or call.phase is not Phase.PARKED or parked is None or retriever is None or ref.request is None:
            # The retriever gave up (or the call ended): the parked party's answer is ACKed, and no
            # more; an offer in it (the re-INVITE had none) gets back the SDP it had before.
            if response is None or status >= 300 or parked is None:
                return []
            answer = b"" if ref.offer else call.sdp_sent.get(held, b"")
            return [SendRaw(parked.target, bytes(parked.ack(response.cseq.number, call.via(parked.target), answer)))]
        if response is None or status >= 300:
            reason = "Request Timeout" if response is None else response.reason
            refused = make_response(ref.request, status if status < 500 else 480, reason, to_tag=retriever.local_tag)
            out = call.leave(new, now) + [Respond(ref.tx, refused)]
            if status in (408, 481):  # the parked party is gone
                out += call.hang_up(now, "switch", f"parked party unreachable ({status})")
            return out
        out = []
        parked.refresh_from_response(response)
        call.refreshed(held, session_timer.as_uac(response, now), now)
        body, ctype = response.body, response.get("Content-Type")
        if body:
            try:
                body, media = call.relay(body, held)
                out.append(media)
            except RemoteProtocolError:
                body = b""
        if ref.offer:
            out.append(SendRaw(parked.target, bytes(parked.ack(response.cseq.number, call.via(parked.target)))))
        else:
            call.late_ack[held] = (parked, response.cseq.number)
        call.enter(Phase.ANSWERED)
        self.parking = None
        call.record.retrieved_by, call.record.retrieved_at = call.extensions.get(new), call.wall(now)
        call.record.joined(call.record.retrieved_by or "?", "retriever", call.record.retrieved_at, by=call.record.parked_by)
        out += call.stop_ringing(None, COMPLETED_ELSEWHERE)  # a ring-back still ringing
        out.append(StopPlaying(held))
        extra = [("Allow", ALLOW), ("Supported", session_timer.TAG), ("P-Asserted-Identity", parked.remote_uri)]
        return out + call.answer_request(ref, status, response.reason, body, ctype, now, extra)

    # --------------------------------------------------------------------------- expiry

    def deadline(self, call: Call) -> float | None:
        parking = self.parking
        if call.phase is Phase.PARKED and parking is not None and not call.pending:
            return parking.expires_at
        return None

    def expiry(self, call: Call, now: float) -> list[Action]:
        due = self.deadline(call)
        if due is None or now < due:
            return []
        assert self.parking is not None
        self.parking.expires_at = None
        return [ParkExpired()]

    # --------------------------------------------------------------------------- ringing back

    def ringing_back(self, call: Call) -> Parking | None:
        """The park whose forks are ringing someone back, if that is what the call's forks do."""
        parking = self.parking
        return parking if parking is not None and parking.ringing and call.phase is Phase.PARKED else None

    def ring_back(self, call: Call, stages: list[Stage], now: float) -> list[Action]:
        """Ring ``stages`` (the parker's phones, then a fallback) for the parked party."""
        parking = self.parking
        if call.phase is not Phase.PARKED or parking is None:
            return []
        stages = [s for s in stages if s.devices]
        code = call.record.park_slot or "the park"
        if not stages:
            return call.hang_up(now, "switch", f"parked at {code} too long; no phone to ring back")
        if parking.parked_leg not in call.sdp_from:
            return call.hang_up(now, "switch", f"parked at {code} too long; no session to offer")
        parking.ringing = True
        return call.ring(stages, now, self)

    def rung_back(self, call: Call, parking: Parking, fork: Fork, response: Response, now: float) -> list[Action]:
        """A ring-back fork answered: it takes the parker's leg (``handover.take``)."""
        out = handover.take(call, fork, response, parking.parker_leg, parking.parked_leg, now, self)
        if call.phase is Phase.ANSWERED:
            self.parking = None
            leg = parking.parker_leg
            who = call.extensions[leg] or call.stages[fork.stage].label
            call.record.retrieved_by, call.record.retrieved_at = who, call.wall(now)
            call.record.joined(who, "ring-back", call.record.retrieved_at, by=call.record.parked_by)
        return out

    def nobody_answered(self, call: Call, now: float) -> list[Action]:
        return call.hang_up(now, "switch", f"parked at {call.record.park_slot}: nobody answered the ring-back")
