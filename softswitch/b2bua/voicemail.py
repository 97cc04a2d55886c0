"""A caller leaves a message (SPEC "Voicemail, recording, supervision").

Theory of operation
-------------------
A call to an extension with a mailbox that nobody takes (no phone registered, busy or do
not disturb, no answer in time: ``Call.fallback``), or a scenario, menu or overflow naming
``voicemail:<extension>``, comes here.  The switch answers the caller itself (the
attendant's answer: its own session on the caller's relay port), plays the greeting and a
tone, then records what the caller says (``TakeMessage``: the caller's side alone, one
channel) until the caller hangs up, presses ``#``, stays silent for the account's time or
reaches its maximum length; after ``#``, the silence or the maximum the caller hears goodbye
and the switch hangs up (``MessageTaken`` keeps the message first).  ``#`` during the
greeting skips to the tone.
The history row's disposition is ``voicemail``.  What becomes of the file (the store's
row, the lamps, the mail) is the service's.

An extension's own phone dialling ``*97`` hears its messages (``Listening``): "You have N
new messages, M old messages.", then each message, new ones first (oldest first), and after
each the keys: ``5`` again, ``6`` the next, ``7`` delete it, ``9`` keep it (and on); a
message played to its end is heard (old from then on: ``MessageHeard``); a key during a
message acts at once.  Ten seconds without a key go on to the next; after the last,
"No more messages. Goodbye." and the switch hangs up.  ``0`` at any time after the counts
records the mailbox's own greeting: "After the tone, say your greeting, then press pound.",
the tone, then what the phone says until ``#``, silence or ``GREETING_MAX`` (kept: "Your
greeting is saved."); a greeting under a second removes the mailbox's own one (its callers
hear the standard greeting again), and hanging up while it is recorded keeps the old one.
Then the messages go on where they were.  From another phone of the account,
``*98`` and the mailbox's number (``*98102``) asks for the mailbox's PIN first ("Please enter
the PIN, then pound."); three wrong ones, and goodbye.
Pure: requests, keys, prompts played and ``now`` in; actions out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..sip.message import Request
from ..sounds import spoken_code
from .actions import Action, Announce, MessageHeard, MessageTaken, Phase, Respond, StopPlaying, TakeMessage, not_allowed
from .attendant import attendant_of
from .feature import Feature

if TYPE_CHECKING:
    from .call import Call

DISPOSITION = "voicemail"
KEY_WAIT = 10.0  # seconds the keys are waited for after a message
PIN_WAIT = 10.0  # seconds a PIN's next key is waited for
PIN_TRIES = 3
PIN_MAX = 12
GREETING_MAX = 60.0  # seconds of a greeting said by phone
MIN_GREETING = 1.0  # seconds: a shorter greeting removes the mailbox's own one
FILE = "file:"  # a prompt that is a message's file, not a named prompt


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
        return answered if answered is not None else [Respond(tx, not_allowed(request))]

    def on_silence(self, call: Call, now: float) -> list[Action]:
        return self._done(call) if self.state == "recording" else []

    def deadline(self, call: Call) -> float | None:
        return self.ends_at if self.state == "recording" else None

    def due(self, call: Call, now: float) -> list[Action]:
        if self.state != "recording" or self.ends_at is None or now < self.ends_at:
            return []
        return self._done(call)


class Listening(Feature):
    """An extension's phone hears its mailbox: ``messages`` are (id, file, new), oldest first;
    the new ones are played first.  Registered before the attendant that answers for it."""

    def __init__(self, mailbox: str, messages: list[tuple[str, str, bool]], pin: str | None = None) -> None:
        self.mailbox = mailbox
        self.messages = [m for m in messages if m[2]] + [m for m in messages if not m[2]]
        self.pin = pin  # asked first (another phone's *98 and the mailbox's number)
        self.typed = ""
        self.tries = 0
        self.index = 0
        self.state = "idle"  # pin, intro, playing, keys, bye; greeting-prompt, greeting, greeting-said
        self.waits_until: float | None = None
        self.opened = False  # the PIN (if any) was right: the counts were said
        self.resume = 0  # the message played after a greeting is recorded
        self.greeting_from = 0.0

    def start(self, call: Call, now: float) -> list[Action]:
        attendant = attendant_of(call)
        out = attendant.answer(call, now)
        if not attendant.attending(call):
            return out
        if self.pin is not None:
            self.state, self.waits_until = "pin", now + PIN_WAIT
            return [*out, StopPlaying("a"), self._say(call, "enter-pin")]
        return [*out, StopPlaying("a"), self._counts(call)]

    def _pin_key(self, call: Call, key: str, now: float) -> list[Action]:
        """A key of the PIN; ``#`` (or the wait running out: ``due``) checks it."""
        if key != "#":
            self.typed = (self.typed + key)[-PIN_MAX:]
            self.waits_until = now + PIN_WAIT
            return []
        return self._check_pin(call, now)

    def _check_pin(self, call: Call, now: float) -> list[Action]:
        typed, self.typed = self.typed, ""
        if typed == self.pin:
            return [StopPlaying("a"), self._counts(call)]
        self.tries += 1
        if self.tries >= PIN_TRIES:
            self.state, self.waits_until = "bye", None
            return [StopPlaying("a"), self._say(call, "wrong-pin", "goodbye")]
        self.waits_until = now + PIN_WAIT
        return [StopPlaying("a"), self._say(call, "wrong-pin", "enter-pin")]

    def _counts(self, call: Call) -> Announce:
        self.state, self.waits_until, self.opened = "intro", None, True
        new = sum(1 for _, _, fresh in self.messages if fresh)
        old = len(self.messages) - new
        return self._say(call, "you-have", *spoken_code(str(new)), "new-messages", *spoken_code(str(old)), "old-messages",
                         "greeting-key")

    def _greeting(self, call: Call) -> list[Action]:
        """``0``: the prompt and the tone, then the greeting is recorded (``on_played``); the
        messages go on afterwards from the one not yet heard to its end."""
        heard = self.state == "keys"
        self.resume = min(len(self.messages), self.index + heard)
        self.state, self.waits_until = "greeting-prompt", None
        return [StopPlaying("a"), self._say(call, "record-greeting", "beep")]

    def _record_greeting(self, now: float) -> list[Action]:
        self.state, self.greeting_from, self.waits_until = "greeting", now, now + GREETING_MAX
        return [TakeMessage(self.mailbox, greeting=True)]

    def _greeting_said(self, call: Call, now: float) -> list[Action]:
        kept = now - self.greeting_from >= MIN_GREETING
        self.state, self.waits_until = "greeting-said", None
        return [MessageTaken(kept), self._say(call, "greeting-saved" if kept else "greeting-removed")]

    def _say(self, call: Call, *prompts: str) -> Announce:
        return Announce("a", prompts, attendant_of(call).pt)

    def _play(self, call: Call) -> list[Action]:
        if self.index >= len(self.messages):
            self.state, self.waits_until = "bye", None
            return [self._say(call, "no-more-messages", "goodbye")]
        self.state, self.waits_until = "playing", None
        return [self._say(call, FILE + self.messages[self.index][1])]

    def _next(self, call: Call, *before: str) -> list[Action]:
        self.index += 1
        out = self._play(call)
        if before and isinstance(out[0], Announce):
            out[0] = Announce("a", (*before, *out[0].prompts), out[0].pt)
        return out

    def _heard(self) -> list[Action]:
        message, _, fresh = self.messages[self.index]
        return [MessageHeard(self.mailbox, message)] if fresh else []

    def _listening(self, call: Call, leg: str) -> bool:
        return leg == "a" and call.phase is Phase.ATTENDED and self.state != "idle"

    # --- the feature's hooks -------------------------------------------------------------
    def on_played(self, call: Call, leg: str, now: float) -> list[Action]:
        if not self._listening(call, leg):
            return []
        if self.state == "intro":
            return self._play(call)
        if self.state == "greeting-prompt":
            return self._record_greeting(now)
        if self.state == "greeting-said":
            self.index = self.resume
            return self._play(call)
        if self.state == "playing":
            message, path, _ = self.messages[self.index]
            out = self._heard()
            self.messages[self.index] = (message, path, False)
            self.state, self.waits_until = "keys", now + KEY_WAIT
            return [*out, self._say(call, "listen-keys")]
        if self.state == "bye":
            return call.hang_up(now, "switch", "messages heard", disposition=DISPOSITION)
        return []

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        if not self._listening(call, leg):
            return None
        if self.state == "pin":
            return self._pin_key(call, key, now)
        if key == "0" and self.opened and self.state in ("intro", "playing", "keys", "bye"):
            return self._greeting(call)
        if key == "#" and self.state == "greeting-prompt":
            return [StopPlaying("a"), *self._record_greeting(now)]
        if key == "#" and self.state == "greeting":
            return self._greeting_said(call, now)
        if self.state not in ("playing", "keys") or key not in "5679":
            return []
        out: list[Action] = [StopPlaying("a")]
        if key == "5":
            return out + self._play(call)
        message, path, _ = self.messages[self.index]
        if key == "7":
            self.messages[self.index] = (message, path, False)
            return out + [MessageHeard(self.mailbox, message, deleted=True), *self._next(call, "message-deleted")]
        out += self._heard()
        self.messages[self.index] = (message, path, False)
        return out + self._next(call)

    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        if not self._listening(call, leg):
            return None
        answered = call.lone_request(leg, tx, request, now, bye=lambda: call.end(now, DISPOSITION, "caller", "messages heard"),
                                     key=lambda key: self.on_key(call, leg, key, now) or [])
        return answered if answered is not None else [Respond(tx, not_allowed(request))]

    def on_silence(self, call: Call, now: float) -> list[Action]:
        return self._greeting_said(call, now) if self.state == "greeting" else []

    def deadline(self, call: Call) -> float | None:
        return self.waits_until if self.state in ("keys", "pin", "greeting") else None

    def due(self, call: Call, now: float) -> list[Action]:
        if self.state not in ("keys", "pin", "greeting") or self.waits_until is None or now < self.waits_until:
            return []
        if self.state == "greeting":
            return self._greeting_said(call, now)
        return self._check_pin(call, now) if self.state == "pin" else self._next(call)
