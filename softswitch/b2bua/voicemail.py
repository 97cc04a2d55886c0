"""A caller leaves a message (SPEC "Voicemail, recording, supervision").

Theory of operation
-------------------
A call to an extension with a mailbox that nobody takes (no phone registered, busy or do
not disturb, no answer in time: ``Call.fallback``), or a scenario, menu or overflow naming
``voicemail:<extension>``, comes here.  The switch answers the caller itself (the
attendant's answer: its own session on the caller's relay port), plays the greeting and a
tone, then records what the caller says (``TakeMessage``: the caller's side alone, one
channel) until the caller hangs up, presses ``#`` or reaches the account's maximum length;
after ``#`` or the maximum the caller hears goodbye and the switch hangs up
(``MessageTaken`` keeps the message first).  ``#`` during the greeting skips to the tone.
The history row's disposition is ``voicemail``.  What becomes of the file (the store's
row, the lamps, the mail) is the service's.
Pure: requests, keys, prompts played and ``now`` in; actions out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..sip.message import Request, make_response
from ..sounds import spoken_code
from .actions import Action, Announce, MessageTaken, Phase, Respond, StopPlaying, TakeMessage
from .attendant import attendant_of
from .feature import Feature

if TYPE_CHECKING:
    from .call import Call

DISPOSITION = "voicemail"


def greeting(number: str, own: str | None) -> tuple[str, ...]:
    """The prompts before the tone: the mailbox's own greeting, or "<number> is not available.
    Please leave a message after the tone."; then the tone."""
    return (own, "beep") if own else (*spoken_code(number), "not-available", "leave-message", "beep")


class Mailbox(Feature):
    """The switch takes a message for ``number``.  Registered before the attendant, so the
    caller's keys and requests reach it first."""

    def __init__(self, number: str, max_seconds: float) -> None:
        self.number = number
        self.max_seconds = max_seconds
        self.state = "idle"  # greeting, recording, goodbye
        self.ends_at: float | None = None

    def take(self, call: Call, prompts: tuple[str, ...], now: float) -> list[Action]:
        attendant = attendant_of(call)
        out = attendant.answer(call, now)
        if not attendant.attending(call):
            return out
        self.state = "greeting"
        return [*out, StopPlaying("a"), Announce("a", prompts, attendant.pt)]

    def _record(self, now: float) -> list[Action]:
        self.state, self.ends_at = "recording", now + self.max_seconds
        return [TakeMessage(self.number)]

    def _done(self, call: Call) -> list[Action]:
        self.state, self.ends_at = "goodbye", None
        return [MessageTaken(), Announce("a", ("goodbye",), attendant_of(call).pt)]

    def _taking(self, call: Call, leg: str) -> bool:
        return leg == "a" and call.phase is Phase.ATTENDED and self.state != "idle"

    # --- the feature's hooks -------------------------------------------------------------
    def on_played(self, call: Call, leg: str, now: float) -> list[Action]:
        if not self._taking(call, leg):
            return []
        if self.state == "greeting":
            return self._record(now)
        if self.state == "goodbye":
            return call.hang_up(now, "switch", "message left", disposition=DISPOSITION)
        return []

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        if not self._taking(call, leg):
            return None
        if key != "#":
            return []
        if self.state == "greeting":
            return [StopPlaying("a"), *self._record(now)]
        if self.state == "recording":
            return self._done(call)
        return []

    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        if not self._taking(call, leg):
            return None

        def bye() -> list[Action]:
            cause = "message left" if self.state != "greeting" else "hung up before the tone"
            return call.end(now, DISPOSITION, "caller", cause)

        answered = call.lone_request(leg, tx, request, now, bye=bye, key=lambda key: self.on_key(call, leg, key, now) or [])
        return answered if answered is not None else [Respond(tx, make_response(request, 405))]

    def deadline(self, call: Call) -> float | None:
        return self.ends_at if self.state == "recording" else None

    def due(self, call: Call, now: float) -> list[Action]:
        if self.state != "recording" or self.ends_at is None or now < self.ends_at:
            return []
        return self._done(call)
