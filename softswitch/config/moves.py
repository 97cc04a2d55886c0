"""What a new config does to the extensions of the running one (pure): which are stopped,
which got a new number.

An operator's edit through the command line or the API names a renumbering (``renumbered``:
(account, old number) → new number).  A hand edit applied with SIGHUP does not: then an
extension whose number is gone while its person holds exactly one number the old config did
not have is taken as renumbered to it; one whose person still holds other numbers is neither
stopped nor moved (its calls go on, subscriptions to it end); any other is stopped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .schema import Config

Renumbered = Mapping[tuple[str, str], str]  # (account, old number) -> new number


@dataclass(frozen=True)
class Moves:
    stopped: dict[str, set[str]] = field(default_factory=dict)  # account -> numbers gone for good
    moved: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, old) -> new number

    def is_stopped(self, account: str, number: str | None) -> bool:
        return number is not None and number in self.stopped.get(account, ())


def extension_moves(old: Config, new: Config, renumbered: Renumbered | None = None) -> Moves:
    renumbered = renumbered or {}
    moves = Moves()
    for account in old.accounts:
        now = new.account(account.name)
        numbers = {e.number for e in now.extensions} if now is not None else set()
        before = {e.number for e in account.extensions}
        for ext in account.extensions:
            if ext.number in numbers:
                continue
            key = (account.name, ext.number)
            if key in renumbered and renumbered[key] in numbers:
                moves.moved[key] = renumbered[key]
                continue
            held = [e.number for e in now.extensions if ext.person is not None and e.person == ext.person] if now else []
            fresh = [n for n in held if n not in before]
            if len(held) == 1 and fresh:
                moves.moved[key] = fresh[0]
            elif not held:
                moves.stopped.setdefault(account.name, set()).add(ext.number)
    return moves
