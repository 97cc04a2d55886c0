"""A key-press menu (IVR) as the caller goes through it (SPEC "Hotlines, scenarios and
menus").  Pure: keys and the time in, what to play or where to go out.

  * The prompt plays; a key pressed meanwhile stops it (barge-in) and counts.
  * After the prompt, the caller has ``timeout`` seconds to press a key.
  * A key with an option goes to its destination.  With ``direct_dial``, digits that
    begin an extension number are collected (``INTER_DIGIT`` apart) until the number is
    whole; a pause after a single key that is also an option takes the option.
  * A wrong key plays ``invalid_prompt`` and the prompt again; so does silence (the
    prompt alone).  After ``attempts`` prompts, the next timeout or wrong key goes to
    the ``fallback``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

INTER_DIGIT = 2.0  # seconds between the digits of an extension typed in a menu


class MenuSettings(Protocol):
    """What a run reads of its menu (config.schema.Menu has these fields)."""

    @property
    def prompt(self) -> str: ...

    @property
    def options(self) -> Mapping[str, str]: ...  # key -> destination

    @property
    def direct_dial(self) -> bool: ...

    @property
    def timeout(self) -> float: ...

    @property
    def attempts(self) -> int: ...

    @property
    def invalid_prompt(self) -> str: ...

    @property
    def fallback(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Say:
    """Play these recordings (names), then wait for a key."""

    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Go:
    """The caller chose (or the menu gave up): send the call to ``destination``."""

    destination: str
    why: str  # "key 1", "dialled 102", "no key", "wrong key": for the log and the call's path


Outcome = Say | Go | None


class MenuRun:
    def __init__(self, menu: MenuSettings, extensions: Collection[str] = ()) -> None:
        self.menu = menu
        self.extensions = tuple(extensions) if menu.direct_dial else ()
        self.attempt = 0
        self.playing = False
        self.typed = ""
        self.deadline: float | None = None

    def start(self) -> Say:
        self.attempt = 1
        self.playing = True
        return Say((self.menu.prompt,))

    def played(self, now: float) -> None:
        """The prompt has been heard: the caller's turn."""
        if self.playing:
            self.playing = False
            self.deadline = now + self.menu.timeout

    def key(self, key: str, now: float) -> Outcome:
        self.playing = False
        typed = self.typed + key
        if any(number.startswith(typed) for number in self.extensions):
            if typed in self.extensions:
                self.typed, self.deadline = "", None
                return Go(typed, f"dialled {typed}")
            self.typed, self.deadline = typed, now + INTER_DIGIT
            return None
        self.typed = ""
        if typed == key and key in self.menu.options:
            self.deadline = None
            return Go(self.menu.options[key], f"key {key}")
        return self._again(("wrong key", self.menu.invalid_prompt))

    def due(self, now: float) -> Outcome:
        if self.deadline is None or now < self.deadline:
            return None
        typed, self.typed = self.typed, ""
        if len(typed) == 1 and typed in self.menu.options:
            self.deadline = None
            return Go(self.menu.options[typed], f"key {typed}")
        return self._again(("wrong key", self.menu.invalid_prompt) if typed else ("no key", None))

    def _again(self, why: tuple[str, str | None]) -> Outcome:
        self.deadline = None
        reason, first = why
        if self.attempt >= self.menu.attempts:
            return Go(self.menu.fallback, reason)
        self.attempt += 1
        self.playing = True
        return Say((first, self.menu.prompt) if first else (self.menu.prompt,))
