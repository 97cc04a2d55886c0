"""What a dialled number means inside the caller's account, and whether the caller may
call it (SPEC "Extensions": call permission; "Calls").

Pure: config objects in, a decision out.  Numbers are resolved only inside the
caller's own account, so ``102`` dialled at acme can never reach globex's 102.
Outside numbers are normalised (visual separators dropped, ``+<country>`` made
national, other ``+`` made ``00``) and classified by the configured patterns
(the default is Vietnam's plan); a class above the caller's permission is
refused with ``403`` and a reason the caller's phone shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # annotations only: the config's own rules call normalise and classify
    from ..config.schema import Account, Extension, Group, Numbering

LEVELS = {"internal": 0, "local": 1, "mobile": 2, "international": 3}
_SEPARATORS = re.compile(r"[\s\-.()/]")


@dataclass(frozen=True, slots=True)
class RingExtension:
    account: Account
    extension: Extension


@dataclass(frozen=True, slots=True)
class RingGroup:
    account: Account
    group: Group


@dataclass(frozen=True, slots=True)
class CallOutside:
    number: str  # normalised national/international form
    number_class: str


@dataclass(frozen=True, slots=True)
class Refuse:
    status: int
    reason: str  # the SIP reason phrase
    detail: str  # what the log says
    busy: str | None = None  # the extension that does not take calls now (do not disturb): its mailbox may


Decision = Union[RingExtension, RingGroup, CallOutside, Refuse]


def normalise(dialled: str, numbering: Numbering) -> str:
    number = _SEPARATORS.sub("", dialled)
    if number.startswith("+"):
        rest = number[1:]
        if rest.startswith(numbering.country_code):
            return "0" + rest[len(numbering.country_code):]
        return "00" + rest
    return number


def classify(number: str, numbering: Numbering) -> str | None:
    for cls in numbering.classes:
        if re.fullmatch(cls.pattern, number):
            return cls.name
    return None


def resolve(account: Account, caller: Extension, dialled: str, numbering: Numbering) -> Decision:
    """Where a call from ``caller`` to ``dialled`` goes."""
    target = account.extension(dialled) or next((e for e in account.extensions if e.alias == dialled), None)
    if target is not None:
        if target.number == caller.number:
            return Refuse(486, "Busy Here", f"{caller.number} dialled itself")
        if target.dnd:
            return Refuse(486, "Busy Here (Do Not Disturb)", f"{target.number} is in do-not-disturb", busy=target.number)
        return RingExtension(account, target)
    group = account.group(dialled)
    if group is not None:
        return RingGroup(account, group)
    number = normalise(dialled, numbering)
    if not number or not all(c.isdigit() for c in number):
        return Refuse(404, "Not Found", f"{dialled!r} is not a number of account {account.name}")
    number_class = classify(number, numbering)
    if number_class is None:
        return Refuse(404, "Not Found", f"{dialled!r} is neither an extension of {account.name} nor an outside number")
    if LEVELS[number_class] > LEVELS[caller.call_permission]:
        return Refuse(
            403, f"Forbidden ({number_class} calls not permitted)",
            f"{caller.number}@{account.name} may call up to {caller.call_permission}; {number} is {number_class}",
        )
    return CallOutside(number, number_class)


def for_trunk(number: str, number_format: str, numbering: Numbering) -> str:
    """A normalised number as the provider wants it: national (``0909...``, ``00...``) or
    E.164 (``+84909...``, ``+1...``)."""
    if number_format != "e164":
        return number
    if number.startswith("00"):
        return "+" + number[2:]
    if number.startswith("0"):
        return f"+{numbering.country_code}{number[1:]}"
    return number


def same_number(a: str, b: str, numbering: Numbering) -> bool:
    """Whether two spellings name one number (``+84287300123`` and ``0287300123``)."""
    return normalise(a, numbering) == normalise(b, numbering)
