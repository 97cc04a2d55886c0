"""What a BLF key is told: the dialogs of a park slot or an extension, as RFC 4235 dialog-info.

Theory of operation
-------------------
A watched resource (``*801``, ``102``) has a list of dialogs, each a ``DialogView``:
its state (``early``, ``confirmed``, ``terminated``), its direction, who is on the
other end and, where known, the SIP dialog's Call-ID and tags.  ``dialog_info``
writes them as one full-state document (RFC 4235 §4.1, ``state="full"``); a
resource with no dialog is shown as one ``terminated`` dialog, which is what desk
phones turn off their lamp for (an empty document leaves some of them unsure).

A park slot (``slot_dialogs``) is ``confirmed`` with the parked party while a call
is parked there, with the slot itself as the remote target (a key pressed calls
the slot, which picks the call up).

An extension (``extension_dialogs``) is read from a snapshot of the switch's calls,
through their public attributes only (``CallView``):

  * a fork ringing one of its devices (``CALLING`` or ``EARLY``, not being
    cancelled, while the call rings: for its caller, for the switch that answered
    the caller, for a parked call rung back or a transfer's target) is ``early``,
    ``direction="recipient"``, with the identity the phone is shown (the fork's
    From: the caller) as remote.  Its ids are those of that fork's dialog as the
    phone sees it: ``call-id`` is the fork's Call-ID and ``remote-tag`` the
    switch's From tag; ``local-tag`` is the phone's To tag from its first 18x (left
    out before one came: RFC 4235 §4.1.2 gives the tags "if known"; its coming alone
    is no news worth a NOTIFY).  A BLF key's
    INVITE with Replaces naming this Call-ID and these tags finds the fork (RFC 3891);
  * an extension on leg A or B of a call is ``confirmed`` (on a call; a parked or
    transferred party listening to music is on a call too), with the other leg's
    party as remote and the leg's dialog ids;
  * the one exception, as FreeSWITCH and Kamailio show it: a caller whose call
    still rings out is ``early`` with ``direction="initiator"`` and the dialled
    party as remote.  (Asterisk shows such a caller ``confirmed`` — its device
    state is "in use" — so that phones which ignore ``direction`` do not blink and
    offer a pick-up; Yealink, Grandstream and Snom read ``direction`` and show
    "calling out", which tells a colleague more.)  A phone offering pick-up only for
    ``direction="recipient"`` is what RFC 4235 §4.1 intends.

Not here: subscriptions, NOTIFY and who may watch what (``presence.service``), and
how calls change (``b2bua``).  No sockets, clocks or randomness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ..b2bua.actions import Fork, ForkState, Phase, Stage
from ..park.lot import Parked
from ..sip.dialog import Dialog
from ..sip.errors import RemoteProtocolError
from ..sip.headers import NameAddr, parse_name_addr
from ..sip.message import Request

EARLY, CONFIRMED, TERMINATED = "early", "confirmed", "terminated"

# The phases in which a call's forks ring for someone (a caller, the switch, a ring-back, a transfer).
RINGING_PHASES = frozenset({Phase.RINGING, Phase.ATTENDED, Phase.PARKED, Phase.TRANSFERRING})


@dataclass(frozen=True, slots=True)
class Party:
    """One end of a dialog (RFC 4235 §4.1.6): its identity URI and display name."""

    identity: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class DialogView:
    """One ``<dialog>`` element (RFC 4235 §4.1): values only, so that two views of a
    resource compare equal when a phone would be told nothing new."""

    id: str
    state: str  # EARLY, CONFIRMED or TERMINATED
    direction: str | None = None  # "initiator" or "recipient", as the watched party sees the dialog
    call_id: str | None = None
    local_tag: str | None = None  # the watched party's tag
    remote_tag: str | None = None
    local: Party | None = None
    local_target: str | None = None
    remote: Party | None = None
    remote_target: str | None = None


class CallView(Protocol):
    """What this module reads of a call (``b2bua.call.Call``'s public attributes)."""

    @property
    def phase(self) -> Phase: ...
    @property
    def extensions(self) -> Mapping[str, str | None]: ...
    @property
    def forks(self) -> Sequence[Fork]: ...
    @property
    def stages(self) -> Sequence[Stage]: ...
    @property
    def invite(self) -> Request: ...
    def leg(self, leg: str) -> Dialog | None: ...
    def identity(self, leg: str) -> str: ...


# --------------------------------------------------------------------------- the document

def escape(text: str) -> str:
    """Character data in XML (xml.sax.saxutils would pull urllib, and with it socket, into a pure core)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    """An attribute value in XML, with its double quotes."""
    return '"' + escape(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;") + '"'


def dialog_info(entity: str, version: int, dialogs: Sequence[DialogView]) -> bytes:
    """A full-state dialog-info document for ``entity`` (RFC 4235 §4.1); ``version`` counts
    the documents sent in one subscription, from 0."""
    inner = "".join(_dialog(d) for d in dialogs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" state="full" entity={quoteattr(entity)}>\n'
        f"{inner}</dialog-info>\n"
    ).encode()


def _dialog(d: DialogView) -> str:
    attrs = f"id={quoteattr(d.id)}"
    for name, value in (("call-id", d.call_id), ("local-tag", d.local_tag), ("remote-tag", d.remote_tag),
                        ("direction", d.direction)):
        if value is not None:
            attrs += f" {name}={quoteattr(value)}"
    # The schema's order: state, then local, then remote (RFC 4235 §4.1.1).
    return (f"  <dialog {attrs}>\n    <state>{d.state}</state>\n"
            f"{_end('local', d.local, d.local_target)}{_end('remote', d.remote, d.remote_target)}  </dialog>\n")


def _end(tag: str, party: Party | None, target: str | None) -> str:
    if party is None and target is None:
        return ""
    out = f"    <{tag}>\n"
    if party is not None:
        shown = f" display={quoteattr(party.display)}" if party.display else ""
        out += f"      <identity{shown}>{escape(party.identity)}</identity>\n"
    if target is not None:
        out += f"      <target uri={quoteattr(target)}/>\n"
    return out + f"    </{tag}>\n"


def lamp(dialogs: Iterable[DialogView]) -> str:
    """The one word a BLF lamp shows: ringing wins over busy, busy over idle."""
    states = {d.state for d in dialogs}
    return EARLY if EARLY in states else CONFIRMED if CONFIRMED in states else TERMINATED


def idle(resource_id: str) -> tuple[DialogView, ...]:
    return (DialogView(resource_id, TERMINATED),)


def party(name_addr: str | NameAddr) -> Party:
    """A name-addr as an identity; text that is not one is shown as it is."""
    if isinstance(name_addr, str):
        try:
            parsed = parse_name_addr(name_addr, "party")
        except RemoteProtocolError:
            return Party(name_addr)
    else:
        parsed = name_addr
    return Party(str(parsed.uri), parsed.display_name or None)


# --------------------------------------------------------------------------- park slots

def slot_dialogs(entity: str, slot_code: str, parked: Parked | None) -> tuple[DialogView, ...]:
    """A park slot: ``confirmed`` with the parked party while taken, else ``terminated``."""
    if parked is None:
        return idle(slot_code)
    return (DialogView(slot_code, CONFIRMED, "recipient", call_id=parked.call, local=Party(entity),
                       remote=party(parked.party), remote_target=entity),)


# --------------------------------------------------------------------------- extensions

def rung_extension(call: CallView, fork: Fork) -> str | None:
    """The extension a fork rings for: a group's member, or the stage's extension."""
    return fork.device.member or call.stages[fork.stage].extension


def extension_dialogs(number: str, calls: Iterable[CallView], *, entity: str,
                      display: str | None = None) -> tuple[DialogView, ...]:
    """The dialogs of extension ``number`` among ``calls`` (one account's), as the
    module doc says; ``entity`` is its URI as the watcher named it."""
    local = Party(entity, display)
    out: list[DialogView] = []
    for call in calls:
        phase = call.phase
        if phase is Phase.ENDED:
            continue
        for leg in ("a", "b"):
            if call.extensions.get(leg) == number:
                out.append(_on_leg(call, leg, local, entity))
        if phase in RINGING_PHASES:
            out += [_ringing(fork, local, entity) for fork in call.forks
                    if fork.state in (ForkState.CALLING, ForkState.EARLY) and not fork.cancel_wanted
                    and not fork.cancel_sent and rung_extension(call, fork) == number]
    return tuple(out) or idle(number)


def news(now: Sequence[DialogView], told: Sequence[DialogView]) -> bool:
    """Whether ``now`` is worth a NOTIFY after ``told``: a ringing phone's own tag arriving
    (its 180, a moment after the INVITE) is not; it goes out with the next change.  (Two
    NOTIFYs a millisecond apart saying the same lamp state only make keys flicker.)"""
    def lamp_view(views: Sequence[DialogView]) -> tuple[DialogView, ...]:
        return tuple(replace(v, local_tag=None) if v.state == EARLY else v for v in views)

    return lamp_view(now) != lamp_view(told)


def _ringing(fork: Fork, local: Party, entity: str) -> DialogView:
    shown = fork.invite.from_
    caller = party(shown)
    return DialogView(fork.invite.call_id, EARLY, "recipient", call_id=fork.invite.call_id, local_tag=fork.tag,
                      remote_tag=shown.tag, local=local, local_target=entity, remote=caller, remote_target=caller.identity)


def _on_leg(call: CallView, leg: str, local: Party, entity: str) -> DialogView:
    dialog = call.leg(leg)
    other = call.identity("b" if leg == "a" else "a")
    if leg == "a":
        remote: Party | None = party(other) if other else party(call.invite.to)  # else: whom it dialled
        state = EARLY if call.phase is Phase.RINGING else CONFIRMED
    else:
        remote, state = (party(other) if other else None), CONFIRMED
    call_id = dialog.call_id if dialog is not None else call.invite.call_id
    return DialogView(call_id, state, "initiator" if leg == "a" else "recipient", call_id=call_id,
                      local_tag=dialog.remote_tag if dialog is not None else None,
                      remote_tag=dialog.local_tag if dialog is not None else None,
                      local=local, local_target=entity, remote=remote,
                      remote_target=remote.identity if remote is not None else None)
