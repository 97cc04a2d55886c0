"""The switch takes the call itself: key-press menus and announcements, then it rings whoever
the caller chose while the caller hears music.

Theory of operation
-------------------
A hotline's scenario (or a menu key) may send a call to a menu or an announcement
rather than to a phone.  The switch then answers the caller's INVITE itself with its
own session on the caller's relay port (``answer_alone``: the first G.711 codec
offered, and telephone-event when offered; an INVITE without an offer gets the
switch's offer and the answer comes in the ACK), and the call is ATTENDED:

  * a menu (``MenuRun``, pure) plays its prompt and reads keys: RFC 4733 events the
    relay saw and INFO.  Its outcome is more prompts, or a destination (``Route``):
    the service decides what that is and gives back a menu, an announcement or
    stages to ring;
  * an announcement plays once, then the switch hangs up;
  * stages ring on the free leg (B) while the caller hears music.  They are offered
    the session the caller already has (the same codec), so the first answer is
    bridged as it is: no re-INVITE to the caller.  When nobody answers, the caller
    hears so ("nobody-available"), then the switch hangs up.

In-dialog requests from the caller meanwhile are answered here: a session refresh
gets the session it has, INFO carries keys, BYE ends the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..dialplan.menu import Go, MenuRun, Outcome, Say
from ..sdp.model import SessionDescription, parse_sdp
from ..sdp.offer_answer import answer_alone, narrow_codecs, own_offer, relay_view, voice_payload
from ..sip.errors import RemoteProtocolError
from ..sip.message import Header, Request, Response, make_response
from . import session_timer
from .actions import (
    COMPLETED_ELSEWHERE,
    Action,
    Announce,
    BindDialog,
    Fork,
    ForkState,
    Phase,
    Play,
    Ref,
    Respond,
    Route,
    SendRequest,
    Stage,
    StopPlaying,
    allows,
)

if TYPE_CHECKING:
    from .call import Call


@dataclass
class Attendant:
    """What the switch does with a call it answered itself."""

    session: SessionDescription  # what the caller was answered (or offered): the session B is offered
    menu: MenuRun | None = None
    playing: bool = False  # a prompt or announcement whose end matters
    hang_up_after: str | None = None  # an announcement: the call ends when it has played, for this cause
    ringing: bool = False  # stages ring for the caller

    @property
    def pt(self) -> int | None:
        return voice_payload(self.session)


def attending(call: Call) -> Attendant | None:
    return call.attendant if call.phase is Phase.ATTENDED else None


# --------------------------------------------------------------------------- answering


def answer(call: Call, now: float) -> list[Action]:
    """Answer the caller here (once): 200 with the switch's own session."""
    out = call.accept(now)
    if call.phase is not Phase.RINGING or call.a_final_sent:
        return out
    session_id = call.new_id()
    try:
        if call.offer is not None:
            session = answer_alone(call.offer, call.media.address, call.media.a, session_id)
        else:
            session = own_offer(call.media.address, call.media.a, session_id)
    except RemoteProtocolError as exc:
        return out + call.reject(exc.status_hint, None, "failed", exc.reason, now)
    body = bytes(session)
    call.sdp_sent["a"] = body
    call.attendant = Attendant(session)
    call.phase = Phase.ATTENDED
    call.a_final_sent = True
    ok = call._a_response(200, None, body, extra=call._timer_headers("a", call.invite, now))
    call._await_ack("a", ok, call.source, call.invite.cseq.number, now)
    return out + [Respond(call.tx, ok)]


def late_answer(call: Call, request: Request) -> list[Action]:
    """The caller's ACK with its answer to the switch's offer."""
    attendant = attending(call)
    if attendant is None or call.offer is not None or "a" in call.sdp_from or not request.body:
        return []
    try:
        sdp = narrow_codecs(parse_sdp(request.body))
    except RemoteProtocolError:
        return []  # nothing to play to: the menu's timeouts end the call
    call.offer = sdp
    attendant.session = answer_alone(sdp, call.media.address, call.media.a, call.new_id())
    return [call._heard("a", sdp)]


# --------------------------------------------------------------------------- menus and announcements


def run_menu(call: Call, run: MenuRun, now: float) -> list[Action]:
    out = answer(call, now)
    attendant = attending(call)
    if attendant is None:
        return out
    attendant.menu = run
    return out + _outcome(call, attendant, run.start(), now)


def announce(call: Call, prompts: tuple[str, ...], now: float) -> list[Action]:
    """Play ``prompts`` to the caller, then hang up."""
    out = answer(call, now)
    attendant = attending(call)
    if attendant is None:
        return out
    attendant.menu, attendant.hang_up_after, attendant.playing = None, "announcement played", True
    return out + [StopPlaying("a"), Announce("a", prompts, attendant.pt)]


def played(call: Call, leg: str, now: float) -> list[Action]:
    """What was being played to the caller has been heard."""
    attendant = attending(call)
    if attendant is None or leg != "a" or not attendant.playing:
        return []
    attendant.playing = False
    if attendant.hang_up_after:
        return call.hang_up(now, "switch", attendant.hang_up_after, disposition="no answer")
    if attendant.menu is not None:
        attendant.menu.played(now)
    return []


def key(call: Call, leg: str, pressed: str, now: float) -> list[Action]:
    attendant = attending(call)
    if attendant is None or leg != "a" or attendant.menu is None:
        return []
    out: list[Action] = []
    if attendant.playing:  # barge-in: a key stops the prompt
        attendant.playing = False
        out.append(StopPlaying("a"))
    outcome = attendant.menu.key(pressed, now)
    return out + _outcome(call, attendant, outcome, now)


def deadline(call: Call) -> float | None:
    attendant = attending(call)
    return attendant.menu.deadline if attendant is not None and attendant.menu is not None else None


def due(call: Call, now: float) -> list[Action]:
    attendant = attending(call)
    if attendant is None or attendant.menu is None:
        return []
    return _outcome(call, attendant, attendant.menu.due(now), now)


def _outcome(call: Call, attendant: Attendant, outcome: Outcome, now: float) -> list[Action]:
    if isinstance(outcome, Say):
        attendant.playing = True
        return [Announce("a", outcome.prompts, attendant.pt)]
    if isinstance(outcome, Go):
        attendant.menu = None
        return [Route(outcome.destination, outcome.why)]
    return []


# --------------------------------------------------------------------------- ringing for the caller


def ring(call: Call, stages: list[Stage], now: float) -> list[Action]:
    """Ring ``stages`` on the free leg while the caller hears music."""
    out = answer(call, now)
    attendant = attending(call)
    if attendant is None:
        return out
    stages = [s for s in stages if s.devices]
    if not stages:
        return out + nobody_answered(call, now)
    attendant.menu, attendant.ringing, attendant.playing = None, True, False
    call.stage = len(call.stages) - 1  # fork stage numbers stay unique
    call.stages += stages
    return out + [StopPlaying("a"), Play("a", attendant.pt)] + call._next_stage(now)


def offer_for_b(call: Call, attendant: Attendant) -> bytes:
    body = bytes(relay_view(attendant.session, call.media.address, call.media.b))
    call.sdp_sent["b"] = body
    return body


def ringing(call: Call) -> Attendant | None:
    attendant = attending(call)
    return attendant if attendant is not None and attendant.ringing else None


def connected(call: Call, attendant: Attendant, fork: Fork, response: Response, now: float, *,
              acked: bool = False) -> list[Action]:
    """A fork answered: it is leg B, bridged to the caller as the caller's session stands."""
    dialog = fork.dialog
    assert dialog is not None
    out = [] if acked else call._ack_fork(fork, b"")
    try:
        if not response.body:
            raise RemoteProtocolError("no SDP in the answer to an offer", 488)
        sdp = parse_sdp(response.body)
    except RemoteProtocolError as exc:
        bye = dialog.request("BYE", call._via(fork.device.target), extra=[Header("Reason", f'SIP;cause=488;text="{exc.reason}"')])
        fork.state, fork.final, fork.final_reason = ForkState.FAILED, 488, "Not Acceptable Here"
        return out + [SendRequest(bye, fork.device.target, Ref("bye", fork.id))] + call._fork_lost(now)
    heard = call._heard("b", sdp)
    stage = call.stages[fork.stage]
    call.b = dialog
    call.phase = Phase.ANSWERED
    attendant.ringing = False
    rec = call.record
    rec.answered = now
    rec.answered_by = fork.device.member or stage.label
    rec.callee_device = response.get("Server") or response.get("User-Agent") or fork.device.label
    call.extensions["b"] = fork.device.member or stage.extension
    call.allows_update["b"] = allows(response, "UPDATE")
    timer = session_timer.as_uac(response, now)
    if timer is not None:
        call.timers["b"] = timer
    call.ring_deadline = None
    bind = [] if acked else [BindDialog(dialog.key, "b")]
    return out + [heard, *bind, StopPlaying("a"), *call._cancel_others(fork, COMPLETED_ELSEWHERE)]


def nobody_answered(call: Call, now: float) -> list[Action]:
    """Nobody took the call: the caller is told so, then the switch hangs up."""
    attendant = attending(call)
    if attendant is None:
        return call.hang_up(now, "switch", "nobody answered", disposition="no answer")
    attendant.menu, attendant.ringing = None, False
    attendant.hang_up_after, attendant.playing = "nobody answered", True
    return [StopPlaying("a"), Announce("a", ("nobody-available",), attendant.pt)]


# --------------------------------------------------------------------------- the caller's requests


def request(call: Call, tx: Any, req: Request, now: float) -> list[Action]:
    """An in-dialog request from the caller while the switch holds the call."""

    def bye() -> list[Action]:
        where = "in a menu" if call.attendant and call.attendant.menu else "while ringing" if ringing(call) else "in an announcement"
        return call._end(now, "cancelled", "caller", f"hung up {where}")

    answered = call._lone_request("a", tx, req, now, bye=bye, key=lambda pressed: key(call, "a", pressed, now))
    return answered if answered is not None else [Respond(tx, make_response(req, 488 if req.method == "REFER" else 501))]
