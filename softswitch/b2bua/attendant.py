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

from typing import TYPE_CHECKING, Any

from ..dialplan.menu import Go, MenuRun, Outcome, Say
from ..sdp.model import SessionDescription, parse_sdp
from ..sdp.offer_answer import answer_alone, narrow_codecs, own_offer, relay_view, voice_payload
from ..sip.errors import RemoteProtocolError
from ..sip.message import Request, Response, make_response
from . import session_timer
from .actions import (
    COMPLETED_ELSEWHERE,
    Action,
    Announce,
    BindDialog,
    Fork,
    Phase,
    Play,
    Respond,
    Route,
    Stage,
    StopPlaying,
    allows,
)
from .feature import Feature, Offer

if TYPE_CHECKING:
    from .call import Call


class Attendant(Feature):
    """What the switch does with a call it answered itself.  Registered by the service when a
    call goes to a menu or an announcement (``run_menu``, ``announce``, ``ring``)."""

    def __init__(self) -> None:
        self.session: SessionDescription | None = None  # what the caller was answered (or offered): B is offered it
        self.menu: MenuRun | None = None
        self.playing = False  # a prompt or announcement whose end matters
        self.hang_up_after: str | None = None  # an announcement: the call ends when it has played, for this cause
        self.ringing = False  # stages ring for the caller

    @property
    def pt(self) -> int | None:
        return voice_payload(self.session) if self.session is not None else None

    def attending(self, call: Call) -> bool:
        return call.phase is Phase.ATTENDED and self.session is not None

    # --- answering ---------------------------------------------------------------------
    def answer(self, call: Call, now: float) -> list[Action]:
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
        self.session = session
        call.enter(Phase.ATTENDED)
        return out + [Respond(call.tx, call.answer_caller(body, now))]

    def on_ack(self, call: Call, leg: str, request: Request, now: float) -> list[Action] | None:
        """The caller's ACK with its answer to the switch's offer."""
        if leg != "a" or call.phase is not Phase.ATTENDED:
            return None
        if not self.attending(call) or call.offer is not None or "a" in call.sdp_from or not request.body:
            return []
        try:
            sdp = narrow_codecs(parse_sdp(request.body))
        except RemoteProtocolError:
            return []  # nothing to play to: the menu's timeouts end the call
        call.offer = sdp
        self.session = answer_alone(sdp, call.media.address, call.media.a, call.new_id())
        return [call.heard("a", sdp)]

    # --- menus and announcements --------------------------------------------------------
    def run_menu(self, call: Call, run: MenuRun, now: float) -> list[Action]:
        out = self.answer(call, now)
        if not self.attending(call):
            return out
        self.menu = run
        return out + self._outcome(run.start())

    def announce(self, call: Call, prompts: tuple[str, ...], now: float) -> list[Action]:
        """Play ``prompts`` to the caller, then hang up."""
        out = self.answer(call, now)
        if not self.attending(call):
            return out
        self.menu, self.hang_up_after, self.playing = None, "announcement played", True
        return out + [StopPlaying("a"), Announce("a", prompts, self.pt)]

    def on_played(self, call: Call, leg: str, now: float) -> list[Action]:
        """What was being played to the caller has been heard."""
        if not self.attending(call) or leg != "a" or not self.playing:
            return []
        self.playing = False
        if self.hang_up_after:
            return call.hang_up(now, "switch", self.hang_up_after, disposition="no answer")
        if self.menu is not None:
            self.menu.played(now)
        return []

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        if call.phase is not Phase.ATTENDED:
            return None
        if not self.attending(call) or leg != "a" or self.menu is None:
            return []
        out: list[Action] = []
        if self.playing:  # barge-in: a key stops the prompt
            self.playing = False
            out.append(StopPlaying("a"))
        return out + self._outcome(self.menu.key(key, now))

    def deadline(self, call: Call) -> float | None:
        return self.menu.deadline if self.attending(call) and self.menu is not None else None

    def due(self, call: Call, now: float) -> list[Action]:
        if not self.attending(call) or self.menu is None:
            return []
        return self._outcome(self.menu.due(now))

    def _outcome(self, outcome: Outcome) -> list[Action]:
        if isinstance(outcome, Say):
            self.playing = True
            return [Announce("a", outcome.prompts, self.pt)]
        if isinstance(outcome, Go):
            self.menu = None
            return [Route(outcome.destination, outcome.why)]
        return []

    # --- ringing for the caller -----------------------------------------------------------
    def ring(self, call: Call, stages: list[Stage], now: float) -> list[Action]:
        """Ring ``stages`` on the free leg while the caller hears music."""
        out = self.answer(call, now)
        if not self.attending(call):
            return out
        stages = [s for s in stages if s.devices]
        if not stages:
            return out + self.nobody_answered(call, now)
        self.menu, self.ringing, self.playing = None, True, False
        return out + [StopPlaying("a"), Play("a", self.pt)] + call.ring(stages, now, self)

    def rings(self, call: Call) -> bool:
        return self.attending(call) and self.ringing

    def fork_offer(self, call: Call) -> Offer:
        assert self.session is not None
        body = bytes(relay_view(self.session, call.media.address, call.media.b))
        call.sdp_sent["b"] = body
        return Offer(body)

    def fork_answered(self, call: Call, fork: Fork, response: Response, now: float, *, acked: bool) -> list[Action]:
        """A fork answered: it is leg B, bridged to the caller as the caller's session stands."""
        dialog = fork.dialog
        assert dialog is not None
        out = [] if acked else call.ack_fork(fork, b"")
        try:
            if not response.body:
                raise RemoteProtocolError("no SDP in the answer to an offer", 488)
            sdp = parse_sdp(response.body)
        except RemoteProtocolError as exc:
            return out + call.fork_failed(fork, exc.reason, now)
        heard = call.heard("b", sdp)
        stage = call.stages[fork.stage]
        call.join("b", dialog, extension=fork.device.member or stage.extension, update=allows(response, "UPDATE"),
                  timer=session_timer.as_uac(response, now))
        call.enter(Phase.ANSWERED)
        self.ringing = False
        call.answered_by(fork, response, now)
        bind = [] if acked else [BindDialog(dialog.key, "b")]
        return out + [heard, *bind, StopPlaying("a"), *call.stop_ringing(fork, COMPLETED_ELSEWHERE)]

    def nobody_answered(self, call: Call, now: float) -> list[Action]:
        """Nobody took the call: the caller is told so, then the switch hangs up."""
        if not self.attending(call):
            return call.hang_up(now, "switch", "nobody answered", disposition="no answer")
        self.menu, self.ringing = None, False
        self.hang_up_after, self.playing = "nobody answered", True
        return [StopPlaying("a"), Announce("a", ("nobody-available",), self.pt)]

    # --- the caller's requests -------------------------------------------------------------
    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        """An in-dialog request from the caller while the switch holds the call."""
        if call.phase is not Phase.ATTENDED or leg != "a":
            return None

        def bye() -> list[Action]:
            where = "in a menu" if self.menu else "while ringing" if self.rings(call) else "in an announcement"
            return call.end(now, "cancelled", "caller", f"hung up {where}")

        def key(pressed: str) -> list[Action]:
            return self.on_key(call, "a", pressed, now) or []

        answered = call.lone_request("a", tx, request, now, bye=bye, key=key)
        return answered if answered is not None else [Respond(tx, make_response(request, 488 if request.method == "REFER" else 501))]


def attendant_of(call: Call) -> Attendant:
    """The call's attendant, registered on first use."""
    return call.feature(Attendant) or call.add(Attendant())
