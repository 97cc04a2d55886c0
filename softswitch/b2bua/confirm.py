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
from ..sip.message import Header, Request, Response, make_response
from .actions import (
    Action,
    Announce,
    BindDialog,
    Deafen,
    Detach,
    Fork,
    ForkState,
    Ref,
    Respond,
    SendRequest,
    StopPlaying,
)

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


def wanted(call: Call, fork: Fork) -> bool:
    return call.stages[fork.stage].confirm is not None and call.offer is not None


def begin(call: Call, fork: Fork, response: Response, now: float) -> list[Action]:
    dialog = fork.dialog
    assert dialog is not None
    out = call._ack_fork(fork, b"")
    stage = call.stages[fork.stage]
    assert stage.confirm is not None
    try:
        sdp = parse_sdp(response.body)
    except RemoteProtocolError as exc:
        return out + _give_up(call, fork, f'SIP;cause=488;text="{exc.reason}"', now, 488, "Not Acceptable Here")
    call.b = dialog
    call.confirming = Confirming(fork, response, stage.confirm, now + stage.confirm_timeout, voice_payload(sdp))
    call.ring_deadline = None  # the member has answered: its confirm deadline counts now
    # The caller must not hear the member (a voicemail's greeting) before it is put through.
    out += [call._heard("b", sdp), BindDialog(dialog.key, "b"), Deafen("a", True), *call._cancel_others(fork, None)]
    return out + [Announce("b", (stage.confirm,), call.confirming.pt)]


def played(call: Call, leg: str, now: float) -> list[Action]:
    """The prompt has played: again, until the member presses 1 or the time is up."""
    waiting = call.confirming
    if waiting is None or leg != "b":
        return []
    return [Announce("b", (waiting.prompt,), waiting.pt)]


def key(call: Call, pressed: str, now: float) -> list[Action]:
    waiting = call.confirming
    if waiting is None or pressed != "1":
        return []
    call.confirming = None
    return [StopPlaying("b"), Deafen("a", False), *call._put_through(waiting.fork, waiting.response, now, acked=True)]


def deadline(call: Call) -> float | None:
    return call.confirming.deadline if call.confirming is not None else None


def due(call: Call, now: float) -> list[Action]:
    waiting = call.confirming
    if waiting is None or now < waiting.deadline:
        return []
    return _give_up(call, waiting.fork, NOT_CONFIRMED, now, 480, "Not Confirmed")


def request(call: Call, tx: Any, req: Request, now: float) -> list[Action]:
    """An in-dialog request from the member who has not pressed 1 yet."""
    waiting = call.confirming
    if waiting is None:
        return [Respond(tx, make_response(req, 481))]

    def bye() -> list[Action]:  # the member (or its voicemail) hung up
        return _give_up(call, waiting.fork, None, now, 480, "Hung Up Before Confirming")

    answered = call._lone_request("b", tx, req, now, bye=bye, key=lambda pressed: key(call, pressed, now))
    return answered if answered is not None else [Respond(tx, make_response(req, 488))]


def abandon(call: Call, cause: str) -> list[Action]:
    """The call ends while a member has not pressed 1: hang the member up."""
    waiting, dialog = call.confirming, call.b
    call.confirming = None
    if waiting is None or dialog is None:
        return []
    text = cause.replace('"', "'")
    bye = dialog.request("BYE", call._via(dialog.target), extra=[Header("Reason", f'SIP;cause=487;text="{text}"')])
    return [StopPlaying("b"), SendRequest(bye, dialog.target, Ref("bye", waiting.fork.id))]


def _give_up(call: Call, fork: Fork, reason: str | None, now: float, status: int, phrase: str) -> list[Action]:
    """That member does not take the call: BYE (unless it hung up), and on with the hunt."""
    dialog = fork.dialog
    call.confirming = None
    out: list[Action] = [StopPlaying("b"), Detach("b"), Deafen("a", False)]
    if reason is not None and dialog is not None:
        bye = dialog.request("BYE", call._via(fork.device.target), extra=[Header("Reason", reason)])
        out.append(SendRequest(bye, fork.device.target, Ref("bye", fork.id)))
    call.b = None
    for table in (call.sdp_from, call.origin, call.timers):
        table.pop("b", None)
    fork.state, fork.final, fork.final_reason = ForkState.FAILED, status, phrase
    return out + call._fork_lost(now)
