"""What a call is made of and what it asks the service to do: the values a ``Call`` is
given (devices, stages, media ports, how the switch names itself) and the actions it
returns (responses, requests, raw sends, relay and player updates), with the small
SIP helpers both halves of a call (``call.py``, ``parking.py``) use.  Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Union

from ..media.monitor import Mode
from ..sdp.model import SessionDescription
from ..sdp.offer_answer import RelayPorts, event_payload, stream_address
from ..sip.dialog import Dialog
from ..sip.headers import Replaces, Via, contact_value
from ..sip.message import Request, Response, make_response
from ..sip.transaction import Target
from .record import CallRecord

COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, MESSAGE, REFER, NOTIFY"
FORWARDED = frozenset({"UPDATE", "INFO", "MESSAGE"})


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Device:
    """A contact to ring: its URI (the Request-URI), the flow that reaches it, a label.
    Through a trunk: the caller ID to present and the credentials for its challenges."""

    uri: str
    target: Target
    label: str = ""
    caller_id: str | None = None  # a SIP URI shown as From (and P-Asserted-Identity)
    credentials: tuple[str, str] | None = None  # (username, password) for 401/407
    member: str | None = None  # the extension (or outside number) of a group this device rings for
    diversion: str | None = None  # a Diversion header (RFC 5806): the hotline the call was sent on from
    asserted: str | None = None  # P-Asserted-Identity when not caller_id (the original caller, where a trunk passes it)
    route: tuple[str, ...] = ()  # Route headers: the Path the phone registered through (RFC 3327), first hop first


@dataclass(frozen=True, slots=True)
class Stage:
    """Devices rung together, for at most ``timeout`` seconds; when they all fail or time
    out, the next stage rings (designated number: primary, then backup)."""

    devices: tuple[Device, ...]
    timeout: float
    callee_uri: str
    label: str  # who answers if this stage does (extension or number), for the history
    extension: str | None = None  # the account's extension rung (None: an outside number)
    confirm: str | None = None  # a prompt: whoever answers must press 1 before being put through
    confirm_timeout: float = 10.0
    group: str | None = None  # the group it rings for ("600", "external:mobiles"): its memory, its texts


class ForkState(enum.Enum):
    CALLING = "calling"
    EARLY = "early"  # a provisional response came: CANCEL may now be sent
    ANSWERED = "answered"
    FAILED = "failed"


@dataclass
class Fork:
    """One device being rung: its INVITE and, once answered, its dialog."""

    id: int
    device: Device
    invite: Request
    state: ForkState = ForkState.CALLING
    cancel_wanted: bool = False
    cancel_reason: str | None = None  # RFC 3326 Reason for the CANCEL
    cancel_sent: bool = False
    final: int | None = None
    final_reason: str = ""
    stage: int = 0
    auth_tried: bool = False
    dialog: Dialog | None = None
    ack: bytes | None = None
    tag: str | None = None  # the device's To tag from its first provisional: its early dialog (BLF, Replaces)


@dataclass(frozen=True, slots=True)
class MediaPorts:
    address: str  # the switch's media address, as written in SDP
    a: RelayPorts
    b: RelayPorts


@dataclass
class Locality:
    """How the switch names itself on each transport (Via sent-by, Contact)."""

    addresses: dict[str, tuple[str, int]]
    user_agent: str = "softswitch"

    def _addr(self, transport: str) -> tuple[str, int]:
        return self.addresses.get(transport) or next(iter(self.addresses.values()))

    def via(self, transport: str, branch: str) -> str:
        host, port = self._addr(transport)
        return str(Via(transport, host, port, (("branch", branch), ("rport", None))))

    def contact(self, transport: str, user: str = "b2bua") -> str:
        return contact_value(user, *self._addr(transport), transport)


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Respond:
    tx: Any  # the server transaction, opaque here
    response: Response


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Start a client transaction; its response comes back to ``Call.on_response(ref, ...)``."""

    request: Request
    target: Target
    ref: Ref


@dataclass(frozen=True, slots=True)
class SendRaw:
    """Bytes outside any transaction: ACK for 2xx and 2xx retransmissions."""

    target: Target
    data: bytes


@dataclass(frozen=True, slots=True)
class SetMedia:
    """Where the phone on ``leg`` ("a" or "b") said it receives RTP (None: on hold, or unknown),
    and the payload type it gave RFC 4733 telephone-events (key presses), if any."""

    leg: str
    address: tuple[str, int] | None
    events: int | None = None
    session: SessionDescription | None = field(default=None, compare=False)  # all it said (for rtpengine)

    @classmethod
    def of(cls, leg: str, sdp: SessionDescription) -> SetMedia:
        return cls(leg, stream_address(sdp), event_payload(sdp), sdp)


@dataclass(frozen=True, slots=True)
class BindDialog:
    """In-dialog requests with this (Call-ID, our tag) belong to this call's ``leg``."""

    key: tuple[str, str]
    leg: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    record: CallRecord


@dataclass(frozen=True, slots=True)
class ParkWanted:
    """The party on ``parker_leg`` asks to park the other one at ``target`` (``*85`` or a
    slot code).  The service answers with ``Call.park_refused``, or ``park_accepted`` and
    then ``parked`` (or ``park_refused`` if claiming the slot fails)."""

    parked_leg: str
    parker_leg: str
    target: str


@dataclass(frozen=True, slots=True)
class TransferWanted:
    """The party on ``transferor_leg`` asks (REFER, or keys) to transfer the other one to
    ``target`` (a number, blind), or to the far end of its other call (``replaces``: that
    call's dialog, attended).  The service answers with ``Transfer.refused``, ``blind`` or
    ``attended``."""

    transferee_leg: str
    transferor_leg: str
    target: str
    replaces: Replaces | None = None


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """A blind transfer's target did not answer and the transferor has left: the service
    rings it back (``Transfer.ring_back``) as its ``transfer_fallback`` says."""


@dataclass(frozen=True, slots=True)
class Play:
    """Music on hold to the phone on ``leg``, in G.711 payload type ``pt``."""

    leg: str
    pt: int | None


@dataclass(frozen=True, slots=True)
class Announce:
    """Say ``prompts`` (names of recordings: the account's, else the switch's own) once to the phone on ``leg``, in G.711
    payload type ``pt``; when done the service calls ``Call.announced(leg)``."""

    leg: str
    prompts: tuple[str, ...]
    pt: int | None


@dataclass(frozen=True, slots=True)
class StopPlaying:
    leg: str


@dataclass(frozen=True, slots=True)
class Deafen:
    """The phone on ``leg`` must not hear the other leg (``deaf``), or may again."""

    leg: str
    deaf: bool


@dataclass(frozen=True, slots=True)
class Detach:
    """The phone on ``leg`` left; the relay forgets where it was."""

    leg: str


@dataclass(frozen=True, slots=True)
class ToggleRecording:
    """The phone on ``leg`` typed the recording code: the service starts, pauses or resumes
    the call's recording if that phone's extension records on demand (and its plan allows)."""

    leg: str


@dataclass(frozen=True, slots=True)
class TakeMessage:
    """Record what the caller says for ``mailbox`` from now on: a voicemail message, or
    (``greeting``) the mailbox's own greeting, said by its phone."""

    mailbox: str
    greeting: bool = False


@dataclass(frozen=True, slots=True)
class MessageTaken:
    """What the caller said is complete (``#``, its maximum length, silence): keep it; a
    greeting not ``kept`` (under a second) is let go, and so is the mailbox's own one: its
    callers hear the standard greeting again."""

    kept: bool = True


@dataclass(frozen=True, slots=True)
class MessageHeard:
    """A voicemail message was played to its mailbox's phone (``deleted``: and let go)."""

    mailbox: str
    message: str  # its id
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Supervise:
    """A supervisor's mode on the call from now on (listen, whisper, barge; None: it left),
    and the voice payload type of legs whose session now says (the supervisor's, "m")."""

    mode: Mode | None
    pts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ParkExpired:
    """Nobody picked the parked call up in time: the service routes it on."""


@dataclass(frozen=True, slots=True)
class Route:
    """A call the switch answered itself (a menu) goes on to ``destination`` (as the config
    writes it: a number, ``menu:<name>``, ``announcement:<name>``, ``hangup``); ``why``
    says what chose it ("key 1", "no key").  The service answers with ``Call.run_menu``,
    ``announce``, ``ring_for_caller`` or ``hang_up``."""

    destination: str
    why: str


Action = Union[Respond, SendRequest, SendRaw, SetMedia, BindDialog, CallEnded, ParkWanted, Play, Announce, StopPlaying, Detach,
               Deafen, ParkExpired, Route, TransferWanted, TransferFailed, ToggleRecording, Supervise,
               TakeMessage, MessageTaken, MessageHeard]


@dataclass(frozen=True, slots=True)
class Ref:
    """What a client transaction was for."""

    kind: str  # invite | cancel | bye | forward | refresh | notify | message | retrieve
    fork: int = -1
    tx: Any = None  # forward: the server transaction waiting for the answer
    from_leg: str = ""
    method: str = ""
    offer: bool = False  # forward of an INVITE that carried SDP
    request: Request | None = None  # forward: the request being answered
    feature: Any = None  # the call feature whose request this is: its answer goes there


class Phase(enum.Enum):
    RINGING = "ringing"
    ATTENDED = "attended"  # answered by the switch itself: a menu, an announcement (attendant.py)
    ANSWERED = "answered"
    PARKED = "parked"
    TRANSFERRING = "transferring"  # the transferee waits (music) while a transfer's target rings (transfer.py)
    ENDED = "ended"




def glare(request: Request) -> Response:
    """491: an offer is already in progress on this call (RFC 3261 §14.2); try again shortly."""
    resp = make_response(request, 491)
    resp.add("Retry-After", "1")
    return resp


def allows(message: Request | Response, method: str) -> bool:
    return method in (m.upper() for m in message.values("Allow"))


def not_allowed(request: Request, allow: str = "INVITE, ACK, BYE, OPTIONS, UPDATE, INFO") -> Response:
    """``405`` for a method a leg the switch holds itself does not take, with the ones it
    does (RFC 3261 §21.4.6)."""
    refused = make_response(request, 405)
    refused.add("Allow", allow)
    return refused


def with_body(resp: Response, body: bytes, content_type: str | None = None) -> Response:
    if body:
        resp.add("Content-Type", content_type or "application/sdp")
    resp.add("Content-Length", str(len(body)))
    resp.body = body
    return resp
