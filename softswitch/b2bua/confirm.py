"""Answer confirmation: a member of an external group takes the call only by pressing 1, so a
mobile's voicemail (which answers any call) cannot take it.

Theory of operation
-------------------
A stage with ``confirm`` rings as usual.  When one of its forks answers, the switch ACKs
it and makes it leg B, but does not put the caller through: the other forks of the
stage are cancelled, the member hears the confirm prompt (again and again) on its relay
port, and has ``confirm_timeout`` seconds to press 1 (RFC 4733 or INFO).  Then the call
is put through as if the member had just answered.  Silence, or the member hanging up,
gives up on that member: a BYE (``Reason: ... not confirmed``), the fork counts as failed
(480), and the hunt goes on with the next stage.  A caller that gives up meanwhile takes
the member down too.

A caller whose INVITE had no offer is put through without confirmation: the member's
offer must be answered in its ACK, which only the caller can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..sdp.model import parse_sdp
from ..sdp.offer_answer import voice_payload
from ..sip.errors import RemoteProtocolError
from ..sip.message import Request, Response, make_response
from .actions import Action, Announce, BindDialog, Deafen, Fork, ForkState, Ref, Respond, StopPlaying
from .feature import Feature

if TYPE_CHECKING:
    from .call import Call

NOT_CONFIRMED = 'SIP;cause=480;text="Call not taken (1 not pressed)"'


@dataclass
class Confirming:
    fork: Fork
    response: Response  # the member's 2xx, to put the caller through with
    prompt: str
    deadline: float
    pt: int | None


class Confirm(Feature):
    """Answer confirmation on one call: registered by the service on calls whose stages may
    ask for it; a member of such a stage presses 1 or does not take the call."""

    def __init__(self) -> None:
        self.waiting: Confirming | None = None  # a member answered and must press 1

    def on_fork_answered(self, call: Call, fork: Fork, response: Response, now: float) -> list[Action] | None:
        if call.stages[fork.stage].confirm is None or call.offer is None:
            return None
        return self.begin(call, fork, response, now)

    def begin(self, call: Call, fork: Fork, response: Response, now: float) -> list[Action]:
        dialog = fork.dialog
        assert dialog is not None
        out = call.ack_fork(fork, b"")
        stage = call.stages[fork.stage]
        assert stage.confirm is not None
        try:
            sdp = parse_sdp(response.body)
        except RemoteProtocolError as exc:
            return out + self._give_up(call, fork, f'SIP;cause=488;text="{exc.reason}"', now, 488, "Not Acceptable Here")
        call.join("b", dialog, extension=None, update=False)  # heard alone until put through
        self.waiting = Confirming(fork, response, stage.confirm, now + stage.confirm_timeout, voice_payload(sdp))
        # The member has answered: its confirm deadline counts now, not the ring timeout.  The
        # caller must not hear the member (a voicemail's greeting) before it is put through.
        out += [call.heard("b", sdp), BindDialog(dialog.key, "b"), Deafen("a", True), *call.stop_ringing(fork, None)]
        return out + [Announce("b", (stage.confirm,), self.waiting.pt)]

    def on_played(self, call: Call, leg: str, now: float) -> list[Action]:
        """The prompt has played: again, until the member presses 1 or the time is up."""
        waiting = self.waiting
        if waiting is None or leg != "b":
            return []
        return [Announce("b", (waiting.prompt,), waiting.pt)]

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        waiting = self.waiting
        if waiting is None or leg != "b":
            return None
        if key != "1":
            return []
        self.waiting = None
        return [StopPlaying("b"), Deafen("a", False), *call.put_through(waiting.fork, waiting.response, now, acked=True)]

    def deadline(self, call: Call) -> float | None:
        return self.waiting.deadline if self.waiting is not None else None

    def due(self, call: Call, now: float) -> list[Action]:
        waiting = self.waiting
        if waiting is None or now < waiting.deadline:
            return []
        return self._give_up(call, waiting.fork, NOT_CONFIRMED, now, 480, "Not Confirmed")

    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        """An in-dialog request from the member who has not pressed 1 yet."""
        waiting = self.waiting
        if waiting is None or leg != "b":
            return None

        def bye() -> list[Action]:  # the member (or its voicemail) hung up
            return self._give_up(call, waiting.fork, None, now, 480, "Hung Up Before Confirming")

        def key(pressed: str) -> list[Action]:
            return self.on_key(call, "b", pressed, now) or []

        answered = call.lone_request("b", tx, request, now, bye=bye, key=key)
        return answered if answered is not None else [Respond(tx, make_response(request, 488))]

    def owns_leg(self, call: Call, leg: str) -> bool:
        return leg == "b" and self.waiting is not None

    def on_end(self, call: Call, cause: str) -> list[Action]:
        """The call ends while a member has not pressed 1: hang the member up."""
        waiting, dialog = self.waiting, call.b
        self.waiting = None
        if waiting is None or dialog is None:
            return []
        text = cause.replace('"', "'")
        return [StopPlaying("b"), call.bye(dialog, f'SIP;cause=487;text="{text}"', Ref("bye", waiting.fork.id))]

    def _give_up(self, call: Call, fork: Fork, reason: str | None, now: float, status: int, phrase: str) -> list[Action]:
        """That member does not take the call: BYE (unless it hung up), and on with the hunt."""
        dialog = fork.dialog
        self.waiting = None
        out: list[Action] = [*call.leave("b", now), Deafen("a", False)]
        if reason is not None and dialog is not None:
            out.append(call.bye(dialog, reason, Ref("bye", fork.id)))
        fork.state, fork.final, fork.final_reason = ForkState.FAILED, status, phrase
        return out + call.fork_lost(now)
