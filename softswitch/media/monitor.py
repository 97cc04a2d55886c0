"""A supervisor on a call: who hears whom, and the mixed frames of those who hear more than
one party (SPEC "Supervisor"; as operators know it from Asterisk's ChanSpy).

Theory of operation
-------------------
A monitored call has three legs: the two parties ("a" the caller side, "b" the other) and
the supervisor ("m").  One of the parties is the *agent*, the extension the supervisor
watches.  The mode says who hears whom (``hearing``):

  * ``listen``: the supervisor hears both parties; nobody hears the supervisor;
  * ``whisper``: the supervisor hears both; the agent hears the other party and the
    supervisor; the other party hears only the agent;
  * ``barge``: everybody hears everybody else.

A leg that hears exactly one other leg is left to the relay, which forwards that leg's
packets untouched (the two-party path, as fast as ever).  A leg that hears more than one
is *mixed*: the relay forwards nothing to it, and every 20 ms ``due`` takes one frame from
each party's ``Source`` (mix.py) and gives that leg the sum of the frames of those it
hears.  The supervisor always hears two parties, so it is always mixed; its own voice is
only ever heard mixed.  Each source is taken once per frame, whoever hears it, so the
frames a listener gets stay in step.  A timer that wakes late gets the frames it owes, at
most ``CATCH_UP`` of them (older ones are let go: live audio is not worth a burst).
Pure: packets, ``now`` and the mode in; linear frames out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .mix import PTIME, SILENCE, Source, mix

Mode = Literal["listen", "whisper", "barge"]
MODES: tuple[Mode, ...] = ("listen", "whisper", "barge")
SUPERVISOR = "m"
CATCH_UP = 3  # frames a late timer sends at most


def hearing(mode: Mode, agent: str) -> dict[str, frozenset[str]]:
    """Who each leg hears: ``agent`` is the party watched ("a" or "b")."""
    other = "b" if agent == "a" else "a"
    if mode == "listen":
        return {agent: frozenset({other}), other: frozenset({agent}), SUPERVISOR: frozenset({"a", "b"})}
    if mode == "whisper":
        return {agent: frozenset({other, SUPERVISOR}), other: frozenset({agent}), SUPERVISOR: frozenset({"a", "b"})}
    return {agent: frozenset({other, SUPERVISOR}), other: frozenset({agent, SUPERVISOR}), SUPERVISOR: frozenset({"a", "b"})}


@dataclass
class Monitoring:
    """One call's three legs: what each sent, and the frames owed to the mixed listeners."""

    agent: str
    mode: Mode
    started: float
    sources: dict[str, Source] = field(default_factory=lambda: {leg: Source() for leg in ("a", "b", SUPERVISOR)})
    frames: int = 0  # 20 ms periods gone by since it started
    skipped: int = 0  # frames a late timer let go

    @property
    def hears(self) -> dict[str, frozenset[str]]:
        return hearing(self.mode, self.agent)

    def mixed(self) -> frozenset[str]:
        """The legs that hear more than one other leg: the relay forwards nothing to them."""
        return frozenset(leg for leg, heard in self.hears.items() if len(heard) > 1)

    def feed(self, leg: str, packet: bytes) -> None:
        """A packet a leg's phone sent (what the relay latched on)."""
        source = self.sources.get(leg)
        if source is not None:
            source.feed(packet)

    def switch(self, mode: Mode) -> None:
        self.mode = mode

    def due(self, now: float) -> list[dict[str, bytes]]:
        """The frames owed up to ``now``: for each, every mixed leg's 16-bit linear frame."""
        owed = int((now - self.started) / PTIME + 1e-9) - self.frames
        if owed <= 0:
            return []
        self.frames += owed
        if owed > CATCH_UP:
            self.skipped += owed - CATCH_UP
            for _ in range(owed - CATCH_UP):  # the sources move on as the parties' time did
                for source in self.sources.values():
                    source.take()
            owed = CATCH_UP
        hears = self.hears
        listeners = {leg: heard for leg, heard in hears.items() if len(heard) > 1}
        out = []
        for _ in range(owed):
            taken = {leg: source.take() for leg, source in self.sources.items()}
            out.append({leg: mix([taken[s] for s in heard if taken[s] is not SILENCE]) for leg, heard in listeners.items()})
        return out

