"""A held party handed to whoever answers: the ring-back of a parked call and a transfer's
target share it (pure; only the call's public leg API).

Theory of operation
-------------------
One leg (the *held* party: parked, or being transferred) stays up and hears music; the
other leg (the *free* leg: the parker's or the transferor's, gone) is rung for it.  The
forks are offered the held party's session taken off hold, on the free leg's relay port
(``offer``), and see the held party calling.  The first fork to answer takes the free
leg (``take``): it is ACKed, joins the call on that leg, the forks still ringing are
cancelled, and the held party gets a re-INVITE with the new phone's session and its
identity in P-Asserted-Identity (RFC 3725 §4.1's re-INVITE of the party on hold).
``answered`` handles the held party's answer to that re-INVITE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sdp.model import parse_sdp
from ..sdp.offer_answer import relay_view, sendrecv, voice_payload
from ..sip.errors import RemoteProtocolError
from ..sip.headers import NameAddr, parse_name_addr
from ..sip.message import Header, Response
from ..sip.uri import SipUri
from . import session_timer
from .actions import (
    COMPLETED_ELSEWHERE,
    Action,
    BindDialog,
    Fork,
    Phase,
    Ref,
    SendRaw,
    SendRequest,
    StopPlaying,
    allows,
)
from .feature import Feature, Offer

if TYPE_CHECKING:
    from .call import Call


def offer(call: Call, held: str, free: str, label: str, headers: tuple[tuple[str, str], ...] = ()) -> Offer:
    """The held party's session, off hold, on the free leg's relay port; the forks see the
    held party calling, its name after ``label`` ("Parked *801")."""
    body = bytes(relay_view(sendrecv(call.sdp_from[held]), call.media.address, call.ports(free)))
    call.sdp_sent[free] = body
    party = parse_name_addr(call.identity(held) or call.invite.get("From") or "", "From")
    name = party.display_name or (party.uri.user_unescaped if isinstance(party.uri, SipUri) else None) or ""
    return Offer(body, NameAddr(party.uri, " ".join(w for w in (label, name) if w), ()), headers)


def take(call: Call, fork: Fork, response: Response, free: str, held: str, now: float, feature: Feature) -> list[Action]:
    """``fork`` answered: it takes the free leg and the held party is re-INVITEd with its
    session.  An answer without usable SDP counts as that fork failing (488)."""
    dialog = fork.dialog
    assert dialog is not None
    out = call.ack_fork(fork, b"")
    try:
        if not response.body:
            raise RemoteProtocolError("no SDP in the answer to an offer", 488)
        view, media = call.relay(response.body, free)
    except RemoteProtocolError as exc:
        return out + call.fork_failed(fork, exc.reason, now)
    if call.leg(held) is None:
        return out
    stage = call.stages[fork.stage]
    call.join(free, dialog, extension=fork.device.member or stage.extension, update=allows(response, "UPDATE"),
              timer=session_timer.as_uac(response, now))
    out += [media, BindDialog(dialog.key, free), *call.stop_ringing(fork, COMPLETED_ELSEWHERE)]
    return out + reinvite_held(call, held, free, view, feature)


def reinvite_held(call: Call, held: str, free: str, view: bytes, feature: Feature) -> list[Action]:
    """The held party is told its new session (``view``: the phone now on ``free``, as the
    relay shows it) and who it talks to, and stops hearing music; the call is answered."""
    parked, dialog = call.leg(held), call.leg(free)
    assert parked is not None and dialog is not None
    extra = [Header("P-Asserted-Identity", dialog.remote_uri)]
    theirs = call.timers.get(held)
    if theirs is not None:
        extra += [Header("Session-Expires", theirs.header(we_are_uac=True)), Header("Supported", session_timer.TAG)]
    reinvite = parked.request("INVITE", call.via(parked.target), body=view, content_type="application/sdp", extra=extra)
    ref = Ref("rering", from_leg=free, method="INVITE", offer=True, feature=feature)
    call.pending[held] = ref
    call.enter(Phase.ANSWERED)
    return [StopPlaying(held), SendRequest(reinvite, parked.target, ref)]


def voice(call: Call, leg: str) -> int | None:
    """The G.711 payload type the phone on ``leg`` receives (from what we last sent it)."""
    try:
        return voice_payload(parse_sdp(call.sdp_sent.get(leg, b"")))
    except RemoteProtocolError:
        return None


def answered(call: Call, ref: Ref, response: Response | None, now: float) -> list[Action]:
    """The held party's answer to the re-INVITE of ``take``."""
    if response is not None and response.status < 200:
        return []
    held = call.other(ref.from_leg)
    call.pending.pop(held, None)
    parked = call.leg(held)
    status = 408 if response is None else response.status
    if response is None or status >= 300 or parked is None:
        if call.phase is Phase.ANSWERED and status in (408, 481):  # the held party is gone
            return call.hang_up(now, "switch", f"held party unreachable ({status})")
        return []  # a refusal leaves its old session in place: the relay ports are the same
    out: list[Action] = [SendRaw(parked.target, bytes(parked.ack(response.cseq.number, call.via(parked.target))))]
    if call.phase is not Phase.ANSWERED:
        return out
    parked.refresh_from_response(response)
    call.refreshed(held, session_timer.as_uac(response, now), now)
    if response.body:
        try:
            answer = parse_sdp(response.body)
        except RemoteProtocolError:
            return out
        out.append(call.heard(held, answer))
    return out
