"""Whether an answered call is recorded (SPEC "Call recording"), decided from its parties.

Each party that has a say (the calling and the answering extension, the group that rang, the
hotline the call came in on) says ``always``, ``never`` or nothing; an extension that says
nothing says what its account says.  The call is recorded when one of them says ``always``:
an account recording everything records a call unless each of its extensions opts out, and
an account recording nothing records the calls of the extensions, groups and hotlines that
opt in.  An extension whose person's plan leaves recording out does not count (the issue of
plans: "each switch feature checks it").
An extension recording ``on_demand`` starts the recording of its call by typing the account's
``recording.key`` (``*1``), pauses it by typing it again, and so on: one file per call, its
pauses left out.  ``RecordingKey`` hears the code on an extension's leg of an answered call;
whether that extension may (its mode, its plan) the service decides when it acts.
Pure: the settings in, a yes or no out; keys in, an action out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .actions import Action, Phase, ToggleRecording
from .dtmf import Typed
from .feature import Feature

if TYPE_CHECKING:
    from .call import Call


def mode_of(own: str | None, account_mode: str) -> str:
    """An extension's recording mode: its own, else its account's."""
    return own or account_mode


def recorded(account_mode: str, extensions: Sequence[tuple[str | None, bool]], others: Sequence[str | None]) -> bool:
    """``extensions``: (mode, whether its plan allows recording) of each extension on the call
    (mode None: not set, the account's); ``others``: the group's and the hotline's modes
    (None: no say).  A call with no extension on it (a provider's call to an outside group)
    is the account's to decide, unless its hotline or group says ``never``."""
    if any(allowed and mode_of(mode, account_mode) == "always" for mode, allowed in extensions):
        return True
    if "always" in others:
        return True
    return not extensions and account_mode == "always" and "never" not in others


@dataclass
class RecordingKey(Feature):
    """The recording code typed on an extension's leg of an answered call (keys are passed on
    to the other party as they come, as for park)."""

    code: str
    typed: dict[str, Typed] = field(default_factory=dict)
    paused: bool = False  # the call's recording was paused with the code (a pick-up does not resume it)

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        if call.phase is not Phase.ANSWERED or call.extensions.get(leg) is None:
            return None
        if self.typed.setdefault(leg, Typed()).add(key, now, len(self.code)) != self.code:
            return None
        self.typed.clear()
        return [ToggleRecording(leg)]
