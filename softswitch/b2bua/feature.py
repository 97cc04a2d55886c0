"""The seam between a call and its features (park, the switch answering itself, answer
confirmation, transfer ...): one protocol, registered on a call.

Theory of operation
-------------------
``Call`` (call.py) owns the legs, the forks and offer/answer.  A feature is an object
registered on one call (``Call.add``) that is asked, in registration order, at each
point where a feature may take over; ``Call`` loops over its features and never names
one, and a feature reaches the call only through the call's public leg API.  Every
hook has a default that declines, so a feature implements only what it needs:

  * ``on_request`` sees an in-dialog request first: a feature that holds a leg on its
    own (a parked party, a caller in a menu, a member yet to press 1) answers it;
  * ``on_bridged_request`` sees a BYE or a REFER on a bridged call once the leg's
    dialog has accepted it (park, transfer);
  * ``on_response`` gets the answers to the requests it sent with ``Ref(feature=self)``;
  * ``on_key``, ``on_ack``, ``on_cancel`` (a CANCEL for an INVITE that is not the
    caller's), ``on_played`` (a prompt has played), ``on_fork_answered`` (before the
    answer is put through: confirmation), ``on_leave`` (a phone left its leg),
    ``on_end`` (the call ends);
  * ``deadline``/``due``: the feature's own timer, on the call's clock;
  * ``owns_leg``: a leg the feature ends itself (the call's hang-up leaves it alone).

A feature that rings forks *for someone other than the waiting caller* (the parker
rung back, a caller the switch already answered, a transfer target) is a ``Ringer``:
``Call.ring`` takes it, and the forks' offer, their answer and their failure are
its business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..sip.headers import NameAddr
from ..sip.message import Request, Response
from .actions import Action, Fork, Ref

if TYPE_CHECKING:
    from .call import Call


class Feature:
    """A call feature: every hook declines (None) or does nothing unless overridden."""

    def on_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        return None

    def on_bridged_request(self, call: Call, leg: str, tx: Any, request: Request, now: float) -> list[Action] | None:
        return None

    def on_response(self, call: Call, ref: Ref, response: Response | None, now: float) -> list[Action]:
        return []

    def on_key(self, call: Call, leg: str, key: str, now: float) -> list[Action] | None:
        return None

    def on_ack(self, call: Call, leg: str, request: Request, now: float) -> list[Action] | None:
        return None

    def on_cancel(self, call: Call, tx: Any, now: float) -> list[Action] | None:
        return None

    def on_played(self, call: Call, leg: str, now: float) -> list[Action]:
        return []

    def on_fork_answered(self, call: Call, fork: Fork, response: Response, now: float) -> list[Action] | None:
        return None

    def on_silence(self, call: Call, now: float) -> list[Action]:
        """What a ``TakeMessage`` records has been silent for the account's time."""
        return []

    def on_leave(self, call: Call, leg: str, now: float) -> list[Action]:
        return []

    def on_end(self, call: Call, cause: str) -> list[Action]:
        return []

    def owns_leg(self, call: Call, leg: str) -> bool:
        return False

    def deadline(self, call: Call) -> float | None:
        return None

    def due(self, call: Call, now: float) -> list[Action]:
        return []


@dataclass(frozen=True, slots=True)
class Offer:
    """What a ringer's forks are offered: the SDP, who they see calling (None: the caller's
    From) and more headers (``Referred-By`` for a transfer target)."""

    body: bytes
    shown: NameAddr | None = None
    headers: tuple[tuple[str, str], ...] = ()


class Ringer(Protocol):
    """Whoever the call's forks ring for, when it is not the caller waiting for an answer."""

    def rings(self, call: Call) -> bool:
        """Whether the forks' outcome still matters to it."""

    def fork_offer(self, call: Call) -> Offer:
        """What the forks are offered, and who they see calling."""

    def fork_answered(self, call: Call, fork: Fork, response: Response, now: float, *, acked: bool) -> list[Action]:
        """A fork answered (and was confirmed where its stage asks): it is this ringer's."""

    def nobody_answered(self, call: Call, now: float) -> list[Action]:
        """Every stage failed or timed out."""
