"""Call pick-up: a colleague answers a call ringing someone else's phone (pure; only the
call's public leg API).

Theory of operation
-------------------
The service finds the call (``*8``: ringing any extension of the picker's pick-up group;
``**102``: ringing 102; an INVITE with ``Replaces`` naming a ringing fork's early dialog,
RFC 3891, as a BLF key sends it) and hands the picker's INVITE to ``pick_up``.  The picker
becomes leg B as if it had been rung and answered:

  * the forks still ringing get CANCEL ("Call completed elsewhere"); a 2xx that crosses it
    is ACKed and hung up as any late answer;
  * two phones answered by the switch must agree on one codec: the first G.711 codec of the
    caller's offer that the picker offers too (``common_voice``).  The picker gets 200 with
    the switch's answer on leg B's relay port, and the caller's identity in
    P-Asserted-Identity; a caller still ringing gets 200 with the switch's answer on leg A's
    port (the picker's identity in P-Asserted-Identity); a caller the switch answered itself
    (a hotline ringing a group with music) just stops hearing the music;
  * the history names the picker as who answered, and its party as a pick-up of the
    extension that rang.

A call that is no longer ringing (answered, ended, ringing someone back) is not there to
pick up: ``481`` (RFC 3891 §3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..sdp.model import SessionDescription, parse_sdp
from ..sdp.offer_answer import answer_alone, common_voice, narrow_codecs
from ..sip.dialog import Dialog
from ..sip.errors import RemoteProtocolError
from ..sip.message import Request, make_response
from ..sip.transaction import Target
from . import session_timer
from .actions import (
    ALLOW,
    COMPLETED_ELSEWHERE,
    Action,
    BindDialog,
    ForkState,
    Phase,
    Respond,
    StopPlaying,
    allows,
    with_body,
)

if TYPE_CHECKING:
    from .call import Call


def ringing(call: Call) -> bool:
    """Whether the call rings for its caller: still waiting for an answer, or answered by the
    switch and ringing with music (not a ring-back or a transfer's target)."""
    if call.phase is Phase.RINGING:
        return not call.a_final_sent and call.ringer is None
    return call.phase is Phase.ATTENDED and call.ringer is not None and call.ringer.rings(call)


def rung(call: Call) -> list[str]:
    """The extensions the call rings now, in the order rung."""
    out: list[str] = []
    for fork in call.forks:
        if fork.state in (ForkState.CALLING, ForkState.EARLY) and not fork.cancel_wanted:
            who = fork.device.member or call.stages[fork.stage].extension
            if who and who not in out:
                out.append(who)
    return out


def pick_up(call: Call, invite: Request, tx: Any, source: Target, picker: str, of: str, now: float) -> list[Action]:
    """``picker`` answers the call ringing ``of`` with its INVITE (see the module doc)."""
    tag = call.new_id()
    if not ringing(call):
        return [Respond(tx, make_response(invite, 481, "Call No Longer Ringing", to_tag=tag))]
    answered_itself = call.phase is Phase.ATTENDED
    try:
        theirs = narrow_codecs(parse_sdp(invite.body)) if invite.body else None
        ours = _callers_session(call)
        if theirs is None or ours is None:
            raise RemoteProtocolError("a pick-up needs an offer on both sides", 488)
        codec = common_voice(ours, theirs)
        if codec is None:
            raise RemoteProtocolError("the picker and the caller have no G.711 codec in common", 488)
        to_picker = answer_alone(theirs, call.media.address, call.media.b, call.new_id(), (codec,))
        to_caller = None if answered_itself else answer_alone(ours, call.media.address, call.media.a, call.new_id(), (codec,))
    except RemoteProtocolError as exc:
        return [Respond(tx, make_response(invite, exc.status_hint, exc.reason[:60], to_tag=tag))]
    dialog = Dialog.as_uas(invite, tag, call.locality.contact(source.transport), source)
    call.join("b", dialog, extension=picker, update=allows(invite, "UPDATE"))
    out: list[Action] = [Respond(tx, make_response(invite, 100)), BindDialog(dialog.key, "b"), call.heard("b", theirs)]
    out += call.stop_ringing(None, COMPLETED_ELSEWHERE)
    call.ringer = None  # nobody rings any more: a late answer is hung up
    body = bytes(to_picker)
    call.sdp_sent["b"] = body
    ok = make_response(invite, 200, to_tag=tag)
    for name, value in [("Contact", dialog.contact), ("Allow", ALLOW), ("Supported", session_timer.TAG),
                        ("P-Asserted-Identity", call.identity("a") or call.invite.get("From") or ""),
                        *call.timer_headers("b", invite, now)]:
        ok.add(name, value)
    with_body(ok, body)
    call.await_ack("b", ok, source, invite.cseq.number, now)
    out.append(Respond(tx, ok))
    if to_caller is not None:
        call.sdp_sent["a"] = bytes(to_caller)
        out.append(Respond(call.tx, call.answer_caller(bytes(to_caller), now, extra=[("P-Asserted-Identity", dialog.remote_uri)])))
    else:
        out.append(StopPlaying("a"))
    call.enter(Phase.ANSWERED)
    rec = call.record
    rec.answered, rec.answered_by = call.wall(now), picker
    rec.callee_device = invite.get("User-Agent") or f"{source.host}:{source.port}"
    rec.joined(rec.caller, "caller", rec.answered)
    rec.joined(picker, "pick-up", rec.answered, by=of)
    return out


def _callers_session(call: Call) -> SessionDescription | None:
    """What the picker must match: the caller's offer, or the session the switch answered
    the caller with."""
    if call.phase is Phase.RINGING:
        return call.offer
    try:
        return parse_sdp(call.sdp_sent.get("a", b""))
    except RemoteProtocolError:
        return None
