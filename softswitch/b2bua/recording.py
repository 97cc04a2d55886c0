"""Whether an answered call is recorded (SPEC "Call recording"), decided from its parties.

Each party that has a say (the calling and the answering extension, the group that rang, the
hotline the call came in on) says ``always``, ``never`` or nothing; an extension that says
nothing says what its account says.  The call is recorded when one of them says ``always``:
an account recording everything records a call unless each of its extensions opts out, and
an account recording nothing records the calls of the extensions, groups and hotlines that
opt in.  An extension whose person's plan leaves recording out does not count (the issue of
plans: "each switch feature checks it").
Pure: the settings in, a yes or no out.
"""

from __future__ import annotations

from collections.abc import Sequence


def recorded(account_mode: str, extensions: Sequence[tuple[str | None, bool]], others: Sequence[str | None]) -> bool:
    """``extensions``: (mode, whether its plan allows recording) of each extension on the call
    (mode None: not set, the account's); ``others``: the group's and the hotline's modes
    (None: no say).  A call with no extension on it (a provider's call to an outside group)
    is the account's to decide, unless its hotline or group says ``never``."""
    if any(allowed and (mode or account_mode) == "always" for mode, allowed in extensions):
        return True
    if "always" in others:
        return True
    return not extensions and account_mode == "always" and "never" not in others
