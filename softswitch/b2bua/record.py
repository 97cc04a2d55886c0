"""The call history row (SPEC "Call history (CDR)"): what a finished call leaves behind.

A ``CallRecord`` is filled in while the call runs; ``row()`` turns it into the
store's immutable ``CallRow`` when it is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..store.records import CallRow, LegMediaRow, PartyRow, RecordingRow

DISPOSITIONS = ("answered", "no answer", "busy", "failed", "cancelled")


@dataclass
class LegMedia:
    """One leg's RTP as the relay saw it: packets received from the leg's phone,
    packets lost on the way in (RFC 3550 §A.3) and interarrival jitter (§A.8)."""

    packets_in: int = 0
    packets_out: int = 0
    lost: int = 0
    jitter_ms: float = 0.0

    def row(self) -> LegMediaRow:
        return LegMediaRow(self.packets_in, self.packets_out, self.lost, self.jitter_ms)


@dataclass
class Party:
    """One party's time on the call (SPEC "Call history"): who, in what role, from when to
    when (wall clock), and who brought it in (the transferor of a transfer target, the
    parker of a call picked up).  A call's parties, in the order they joined, tell its
    story across transfers, park and pick-up; each is billed its own seconds."""

    who: str  # the extension or outside number
    role: str  # caller | callee | blind transfer | attended transfer | pick-up | retriever | ring-back
    joined: float
    left: float | None = None
    by: str | None = None

    @property
    def billed_seconds(self) -> int:
        if self.left is None:
            return 0
        return int(max(0.0, self.left - self.joined) + 0.5)


@dataclass
class CallRecord:
    id: str
    account: str
    caller: str
    callee: str  # what was dialled
    direction: str  # internal | outbound | inbound
    started: float  # wall-clock seconds
    hotline: str | None = None
    answered: float | None = None
    ended: float | None = None
    disposition: str = "failed"
    hangup_by: str = ""  # caller | callee | switch
    cause: str = ""
    caller_device: str = ""
    callee_device: str = ""
    answered_by: str | None = None  # the extension/number that took the call
    park_slot: str | None = None  # the code it was (last) parked at, "*801"
    parked_by: str | None = None  # the extension that parked it
    parked_at: float | None = None
    retrieved_by: str | None = None  # the extension that picked it up
    retrieved_at: float | None = None
    path: list[str] = field(default_factory=list)  # where it went: hotline, menu, group ... and who answered
    media_a: LegMedia = field(default_factory=LegMedia)
    media_b: LegMedia = field(default_factory=LegMedia)
    parties: list[Party] = field(default_factory=list)  # who was on the call, in order (answered calls)
    caller_person: str | None = None  # the person (config ``people``) behind the caller's extension
    callee_person: str | None = None  # ... behind the extension that answered, or was rung
    recording: RecordingRow | None = None  # the file the call was recorded to

    def joined(self, who: str, role: str, at: float, by: str | None = None) -> None:
        """``who`` is connected from ``at`` on (the call's answer, a transfer, a pick-up)."""
        self.parties.append(Party(who, role, at, by=by))

    def left(self, who: str | None, at: float) -> None:
        """``who`` (None: everyone still on) is no longer connected from ``at``."""
        for party in self.parties:
            if party.left is None and (who is None or party.who == who):
                party.left = at

    @property
    def duration(self) -> float:
        return 0.0 if self.ended is None else max(0.0, self.ended - self.started)

    @property
    def billed_seconds(self) -> int:
        """From the final callee's 200 OK to the end (early media never counts), to the
        nearest second as Asterisk's billsec; zero for a call that was not answered."""
        if self.answered is None or self.ended is None:
            return 0
        return int(max(0.0, self.ended - self.answered) + 0.5)

    def row(self) -> CallRow:
        """The history row as the store keeps it (a snapshot: later changes do not reach it)."""
        return CallRow(
            self.id, self.account, self.caller, self.callee, self.direction, self.started, self.hotline,
            self.answered, self.ended, self.disposition, self.hangup_by, self.cause, self.caller_device,
            self.callee_device, self.answered_by, self.park_slot, self.parked_by, self.parked_at,
            self.retrieved_by, self.retrieved_at, tuple(self.path), self.media_a.row(), self.media_b.row(),
            round(self.duration, 3), self.billed_seconds,
            tuple(PartyRow(p.who, p.role, p.joined, p.left, p.by) for p in self.parties),
            self.caller_person, self.callee_person, self.recording,
        )

    def as_row(self) -> dict[str, Any]:
        """The table's columns (``CallRow.as_row``)."""
        return self.row().as_row()
