"""A supervisor on an agent's call: listen, whisper, barge (SPEC "Voicemail, recording,
supervision").

Theory of operation
-------------------
A supervisor dials a code and the agent's number (``*221102`` listen, ``*222102`` whisper,
``*223102`` barge, the account's ``supervision`` settings).  The service checks that the
caller is one of the agent's ``supervisors`` (an extension, or a member of a group named
there: ``supervises``) before it looks for a call, so anyone else gets the same ``403``
whether or not the agent is talking; it finds the agent's answered call, gives it a third
port pair on the relay, and hands the INVITE to this feature on that call.

``Monitor`` answers the supervisor itself (``200`` with the switch's session on the third
port pair, leg "m", as the attendant answers a caller) and says who hears whom
(``Supervise``: media/monitor.py mixes).  During the call the supervisor's keys (RFC 4733 or
INFO) switch the mode: ``4`` listen, ``5`` whisper, ``6`` barge, as operators know them
from Asterisk.  The supervisor's BYE ends the monitoring and the call goes on; the call's
end, or the agent leaving it (parked, transferred away), sends the supervisor a BYE.  Each
mode is a party of the history row: the supervisor, the mode, from when to when, and the
agent watched.  The agent hears a short beep when a supervisor joins, if the account says so.
Pure: requests, keys and ``now`` in; actions out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..media.monitor import SUPERVISOR, Mode
from ..sdp.model import parse_sdp
from ..sdp.offer_answer import RelayPorts, answer_alone, narrow_codecs, voice_payload
from ..sip.dialog import Dialog
from ..sip.errors import RemoteProtocolError
from ..sip.message import Request, make_response
from ..sip.transaction import Target
from . import handover
from .actions import ALLOW, Action, Announce, BindDialog, Phase, Respond, Supervise, not_allowed, with_body
from .feature import Feature

if TYPE_CHECKING:
    from .call import Call


def wanted(dialled: str, codes: Mapping[str, Mode]) -> tuple[Mode, str] | None:
    """(mode, agent's number) for a supervision code and a number (``*221102``), or None."""
    for code, mode in codes.items():
        number = dialled[len(code):]
        if dialled.startswith(code) and number.isdigit():
            return mode, number
    return None


def supervises(who: str, named: Sequence[str], members: Callable[[str], Sequence[str]]) -> bool:
    """Whether extension ``who`` is one of ``named`` (an agent's supervisors), itself or as a
    member of a group named there."""
    return any(who == name or who in members(name) for name in named)


class Monitor(Feature):
    """One supervisor on the call, watching the party on ``agent_leg``."""

    def __init__(self, supervisor: str, agent_leg: str, mode: Mode, keys: Mapping[str, Mode], *, beep: bool = False) -> None:
        self.supervisor = supervisor
        self.agent_leg = agent_leg
        self.mode = mode
        self.keys = dict(keys)  # key -> mode
        self.beep = beep
        self.on = False
        self.dialog: Dialog | None = None  # the supervisor's

    def join(self, call: Call, invite: Request, tx: Any, source: Target, ports: RelayPorts, now: float) -> list[Action]:
        """Answer the supervisor's INVITE with the switch's session on ``ports``."""
        try:
            dialog = Dialog.as_uas(invite, call.new_id(), call.locality.contact(source.transport), source)
            offer = narrow_codecs(parse_sdp(invite.body)) if invite.body else None
            if offer is None:
                raise RemoteProtocolError("a supervisor's INVITE needs an offer", status_hint=488)
            session = answer_alone(offer, call.media.address, ports, call.new_id())
        except RemoteProtocolError as exc:
            return [Respond(tx, make_response(invite, exc.status_hint, to_tag=call.new_id())), Supervise(None)]
        body = bytes(session)
        call.others[SUPERVISOR] = self.dialog = dialog
        call.sdp_sent[SUPERVISOR] = body
        resp = make_response(invite, 200, to_tag=dialog.local_tag)
        resp.add("Contact", dialog.contact)
        resp.add("Allow", ALLOW)
        with_body(resp, body, "application/sdp")
        call.await_ack(SUPERVISOR, resp, dialog.target, invite.cseq.number, now)
        self.on = True
        out: list[Action] = [Respond(tx, resp), BindDialog(dialog.key, SUPERVISOR), call.heard(SUPERVISOR, offer)]
        out += self._switch(call, self.mode, now, pts=((SUPERVISOR, voice_payload(session) or 0),))
        if self.beep:
            out.append(Announce(self.agent_leg, ("beep",), handover.voice(call, self.agent_leg)))
        return out

    def _switch(self, call: Call, mode: Mode, now: float, pts: tuple[tuple[str, int], ...] = ()) -> list[Action]:
        rec, at = call.record, call.wall(now)
        if pts == ():  # a change of mode: the last one ends now
            rec.left(self.supervisor, at)
        self.mode = mode
        rec.joined(self.supervisor, mode, at, by=call.extensions.get(self.agent_leg))
        return [Supervise(mode, pts)]

    def leave(self, call: Call, now: float, *, bye: bool) -> list[Action]:
        """The monitoring ends (the supervisor's BYE, or ``bye`` one to it)."""
        if self.on:
            call.record.left(self.supervisor, call.wall(now))
        return self._off(call, bye=bye)

    def _off(self, call: Call, *, bye: bool) -> list[Action]:
        if not self.on:
            return []
        self.on = False
        call.forget(SUPERVISOR)
        out: list[Action] = [Supervise(None)]
        if bye and self.dialog is not None:
            out.append(call.bye(self.dialog))
        return out

    # --- the feature's hooks -------------------------------------------------------------
    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        if leg != SUPERVISOR:
            return None
        if not self.on:
            return [Respond(tx, make_response(request, 481))]
        answered = call.lone_request(leg, tx, request, now, bye=lambda: self.leave(call, now, bye=False),
                                     key=lambda key: self.on_key(call, leg, key, now) or [])
        return answered if answered is not None else [Respond(tx, not_allowed(request))]

    def on_ack(self, call: Call, leg: str, request: Request, now: float) -> list[Action] | None:
        return [] if leg == SUPERVISOR else None

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        if leg != SUPERVISOR:
            return None
        mode = self.keys.get(key)
        if not self.on or mode is None or mode == self.mode:
            return []
        return self._switch(call, mode, now)

    def on_leave(self, call: Call, leg: str, now: float) -> list[Action]:
        """The agent left the call (parked it, was transferred away): the supervisor goes too.
        The supervisor's own leg lost (no ACK, its session expired): it is let go."""
        if leg == SUPERVISOR:
            return self.leave(call, now, bye=True)
        if leg != self.agent_leg or call.phase is Phase.ENDED:
            return []
        return self.leave(call, now, bye=True)

    def on_end(self, call: Call, cause: str) -> list[Action]:
        return self._off(call, bye=True)  # the call's end closed every party of the history
