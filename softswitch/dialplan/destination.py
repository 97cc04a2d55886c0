"""Where a call can be sent, as the config writes it (SPEC "Hotlines, scenarios and menus"):
an extension or group number, ``menu:<name>``, ``external:<group>``,
``announcement:<recording>``, ``voicemail:<extension>`` or ``hangup``.

Pure, so the routing core reads a destination without importing the config layer
(pydantic and the YAML loader); the config's validators call the same parser.
"""

from __future__ import annotations

import re

NUMBER_RE = re.compile(r"[1-9][0-9]*\Z")  # an extension or group number: digits, no leading 0
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")  # a menu, group, recording ... name

DESTINATION_KINDS = ("menu", "announcement", "external", "voicemail")
DESTINATION_HELP = ("an extension or group number, 'menu:<name>', 'external:<external group>', 'announcement:<recording>', "
                    "'voicemail:<extension>' or 'hangup'")


def parse_destination(value: str) -> tuple[str, str]:
    """Where a call can be sent (a hotline's scenario, a menu key): ``("number", "600")``,
    ``("menu", "main")``, ``("external", "mobiles")``, ``("announcement", "closed")``,
    ``("voicemail", "102")`` or ``("hangup", "")``."""
    if value == "hangup":
        return ("hangup", "")
    kind, colon, name = value.partition(":")
    if colon:
        if kind not in DESTINATION_KINDS or not NAME_RE.match(name):
            raise ValueError(f"{value!r} is not a destination: {DESTINATION_HELP}")
        return (kind, name)
    if not value.isascii() or not value.isdigit() or not NUMBER_RE.match(value):
        raise ValueError(f"{value!r} is not a destination: {DESTINATION_HELP}")
    return ("number", value)
