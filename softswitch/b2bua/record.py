"""The call history row (SPEC "Call history (CDR)"): what a finished call leaves behind."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DISPOSITIONS = ("answered", "no answer", "busy", "failed", "cancelled")
PATH_SEPARATOR = " > "


@dataclass
class LegMedia:
    """One leg's RTP as the relay saw it: packets received from the leg's phone,
    packets lost on the way in (RFC 3550 §A.3) and interarrival jitter (§A.8)."""

    packets_in: int = 0
    packets_out: int = 0
    lost: int = 0
    jitter_ms: float = 0.0


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

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("media_a")
        row.pop("media_b")
        for leg, media in (("a", self.media_a), ("b", self.media_b)):
            for key, value in asdict(media).items():
                row[f"{leg}_{key}"] = value
        row["path"] = PATH_SEPARATOR.join(self.path)
        row["duration"] = round(self.duration, 3)
        row["billed_seconds"] = self.billed_seconds
        return row

    @classmethod
    def columns(cls) -> list[str]:
        """The names ``as_row`` gives, in order (the CSV header)."""
        return list(cls("", "", "", "", "", 0.0).as_row())

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CallRecord:
        data = dict(row)
        data.pop("duration", None)
        data.pop("billed_seconds", None)
        path = data.pop("path", None)
        data["path"] = path.split(PATH_SEPARATOR) if path else []
        media = {}
        for leg in ("a", "b"):
            media[leg] = LegMedia(**{k: data.pop(f"{leg}_{k}") for k in ("packets_in", "packets_out", "lost", "jitter_ms")})
        return cls(**data, media_a=media["a"], media_b=media["b"])
