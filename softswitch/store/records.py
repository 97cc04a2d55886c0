"""What the store keeps: its own rows, one type per table (tables.py).

The store sits below the services: the registrar, the parking lot and the call
service convert their live objects to these rows at their edge, and back where
they read.  So the schema changes only with these types, and a service can
change its own objects without the store (or a migration) following.  Pure
values: no I/O, nothing imported from above the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Union

from ..sip.transaction import Target

PATH_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class RegistrationRow:
    """One binding of a registered device (RFC 3261 §10.3): the ``registrations`` table."""

    account: str
    extension: str
    key: str  # identity within the address of record
    contact: str
    uri: str
    expires_at: float
    registered_at: float
    call_id: str
    cseq: int
    source: Target  # read back without a connection id: connections do not survive the process
    nat: bool = False
    instance: str | None = None
    reg_id: int | None = None
    q: str | None = None
    user_agent: str = ""
    path: tuple[str, ...] = ()  # RFC 3327 Path URIs, first hop first

    @property
    def id(self) -> str:
        """The row's primary key."""
        return f"{self.account}/{self.extension}/{self.key}"


@dataclass(frozen=True, slots=True)
class RegistrationSaved:
    """Insert or replace a binding."""

    registration: RegistrationRow


@dataclass(frozen=True, slots=True)
class RegistrationRemoved:
    """Delete a binding (unregistered, expired, replaced or dropped with its flow)."""

    registration: RegistrationRow


RegistrationChange = Union[RegistrationSaved, RegistrationRemoved]


@dataclass(frozen=True, slots=True)
class ParkedRow:
    """An occupied park slot: the ``parked`` table, less the process holding it."""

    account: str
    slot: int
    call: str  # the call's id (its history row)
    parked_at: float
    expires_at: float
    parker: str  # the extension that parked it
    party: str  # who is parked, as shown to a BLF subscriber (a name-addr)


@dataclass(frozen=True, slots=True)
class LegMediaRow:
    """One leg's RTP counters at the end of a call (RFC 3550 §A.3 loss, §A.8 jitter)."""

    packets_in: int = 0
    packets_out: int = 0
    lost: int = 0
    jitter_ms: float = 0.0


_MEDIA = ("packets_in", "packets_out", "lost", "jitter_ms")


@dataclass(frozen=True, slots=True)
class PartyRow:
    """One party's time on a call (SPEC "Call history"): who, in what role (caller, callee,
    blind transfer, attended transfer, pick-up, retriever, ring-back), joined and left on the
    wall clock, and who brought it in (the transferor, the parker).  Kept in the ``calls``
    row's ``parties`` column as JSON, in the order the parties joined."""

    who: str
    role: str
    joined: float
    left: float | None = None
    by: str | None = None

    @property
    def billed_seconds(self) -> int:
        """Joined to left, to the nearest second (as the call's own ``billed_seconds``);
        zero for a party whose leaving was never recorded."""
        if self.left is None:
            return 0
        return int(max(0.0, self.left - self.joined) + 0.5)


def parties_json(parties: tuple[PartyRow, ...]) -> str | None:
    """The ``parties`` column: a JSON array of objects, or NULL for a call without parties
    (as every row written before migration 0005 reads)."""
    if not parties:
        return None
    return json.dumps([{"who": p.who, "role": p.role, "joined": p.joined, "left": p.left, "by": p.by}
                       for p in parties], separators=(",", ":"))


def parties_from_json(text: str | None) -> tuple[PartyRow, ...]:
    if not text:
        return ()
    return tuple(PartyRow(p["who"], p["role"], p["joined"], p.get("left"), p.get("by")) for p in json.loads(text))


@dataclass(frozen=True, slots=True)
class CallRow:
    """One finished call: the ``calls`` table (SPEC "Call history (CDR)").  ``duration``
    and ``billed_seconds`` are kept as the call service computed them."""

    id: str
    account: str
    caller: str
    callee: str
    direction: str
    started: float
    hotline: str | None = None
    answered: float | None = None
    ended: float | None = None
    disposition: str = "failed"
    hangup_by: str = ""
    cause: str = ""
    caller_device: str = ""
    callee_device: str = ""
    answered_by: str | None = None
    park_slot: str | None = None
    parked_by: str | None = None
    parked_at: float | None = None
    retrieved_by: str | None = None
    retrieved_at: float | None = None
    path: tuple[str, ...] = ()
    media_a: LegMediaRow = field(default_factory=LegMediaRow)
    media_b: LegMediaRow = field(default_factory=LegMediaRow)
    duration: float = 0.0
    billed_seconds: int = 0
    parties: tuple[PartyRow, ...] = ()  # in the order they joined (answered calls)
    caller_person: str | None = None  # the people (config ``people``) behind the numbers, when known:
    callee_person: str | None = None  # a person's history survives a new number; a reused number does not mix two
    recording: RecordingRow | None = None  # the call's recording, when it was recorded (its id is the call's)

    def as_row(self) -> dict[str, Any]:
        """The table's columns, in the order ``columns`` gives (the CSV export's too)."""
        row: dict[str, Any] = {
            "id": self.id, "account": self.account, "caller": self.caller, "callee": self.callee,
            "direction": self.direction, "started": self.started, "hotline": self.hotline,
            "answered": self.answered, "ended": self.ended, "disposition": self.disposition,
            "hangup_by": self.hangup_by, "cause": self.cause, "caller_device": self.caller_device,
            "callee_device": self.callee_device, "answered_by": self.answered_by, "park_slot": self.park_slot,
            "parked_by": self.parked_by, "parked_at": self.parked_at, "retrieved_by": self.retrieved_by,
            "retrieved_at": self.retrieved_at, "path": PATH_SEPARATOR.join(self.path),
        }
        for leg, media in (("a", self.media_a), ("b", self.media_b)):
            for name in _MEDIA:
                row[f"{leg}_{name}"] = getattr(media, name)
        row["duration"] = self.duration
        row["billed_seconds"] = self.billed_seconds
        row["caller_person"] = self.caller_person
        row["callee_person"] = self.callee_person
        file = self.recording
        row["recording_path"] = file.path if file else None
        row["recording_seconds"] = file.seconds if file else None
        row["recording_bytes"] = file.size if file else None
        row["recording_sha256"] = file.sha256 if file else None
        row["recording_deleted"] = file.deleted if file else None
        row["parties"] = parties_json(self.parties)  # last: the CSV's widest column
        return row

    @classmethod
    def columns(cls) -> list[str]:
        """The names ``as_row`` gives, in order (the CSV header)."""
        return list(cls("", "", "", "", "", 0.0).as_row())

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CallRow:
        data = dict(row)
        path = data.pop("path", None)
        parties = parties_from_json(data.pop("parties", None))
        media = {leg: LegMediaRow(**{k: data.pop(f"{leg}_{k}") for k in _MEDIA}) for leg in ("a", "b")}
        file = [data.pop(f"recording_{k}", None) for k in ("path", "seconds", "bytes", "sha256", "deleted")]
        recording = RecordingRow(file[0], float(file[1] or 0.0), int(file[2] or 0), file[3] or "", file[4]) if file[0] else None
        return cls(**data, path=tuple(path.split(PATH_SEPARATOR)) if path else (), media_a=media["a"], media_b=media["b"],
                   parties=parties, recording=recording)


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """A call's recording (SPEC "Call recording"): a stereo WAV file, the caller's side left."""

    path: str
    seconds: float
    size: int  # bytes
    sha256: str  # of the whole file, hex
    deleted: float | None = None  # wall-clock seconds retention deleted the file at


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A voicemail message (SPEC "Voicemail, recording, supervision"): who left it in which
    extension's mailbox, when, and its file (8 kHz mono WAV).  New until first heard."""

    id: str
    account: str
    mailbox: str  # the extension number
    person: str | None  # the mailbox's person: a renumbered extension keeps its messages
    caller: str  # the number (or name) that left it
    received: float  # wall-clock seconds
    seconds: float
    path: str
    heard: float | None = None  # when it was first played (RFC 3842: "old" from then on)

    def as_row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MessageRow:
        return cls(**{f: row[f] for f in cls.__slots__})


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One change an operator made (SPEC "Operating it"): who, when, what, to whom, and the
    entry before and after as JSON text (passwords only as "(set)")."""

    at: float  # wall-clock seconds
    actor: str
    account: str
    action: str  # grant, stop, change-number, password, update, person-add, person-update ...
    subject: str  # "extension 101", "extension 101 -> 105", "person e001"
    person: str | None
    before: str | None  # JSON
    after: str | None  # JSON
    version: str  # the config file's version the change wrote

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "actor": self.actor, "account": self.account, "action": self.action,
                "subject": self.subject, "person": self.person,
                "before": json.loads(self.before) if self.before else None,
                "after": json.loads(self.after) if self.after else None, "version": self.version}
