"""The files each vendor's phones ask for, and what they hold: a device's ``Profile`` put
through its family's template (``templates/``; a new model family is a new template).

Yealink asks for ``<mac>.boot`` (else ``y000000000000.boot``), which includes ``<mac>.cfg``,
and may ask for its model's common ``y0000000000XX.cfg``; Grandstream for ``cfg<mac>.xml``;
Fanvil for ``<mac>.cfg``.  MACs in file names are 12 lower-case hex digits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from . import TEMPLATES
from .profile import Profile

_MAC_FILE = re.compile(r"([0-9a-f]{12})\.(cfg|boot)\Z")
_GRANDSTREAM_FILE = re.compile(r"cfg([0-9a-f]{12})\.xml\Z")
_YEALINK_COMMON = re.compile(r"y0000000000[0-9a-f]{2}\.cfg\Z")
_UA_MAC = re.compile(r"(?:[0-9a-f]{2}[:-]?){5}[0-9a-f]{2}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")  # nor valid in XML, nor a line


@dataclass(frozen=True)
class Wanted:
    """A file a phone asked for: whose (``mac``; None for a vendor's common file, which is
    the asking device's) and which kind."""

    mac: str | None
    kind: str  # boot | cfg | xml | common


def wanted(name: str) -> Wanted | None:
    """What the file name ``name`` (the request's path, without the leading /) asks for; None:
    no phone's file."""
    name = name.lower()
    if m := _MAC_FILE.match(name):
        return Wanted(None if m[1] == "000000000000" else m[1], m[2])
    if m := _GRANDSTREAM_FILE.match(name):
        return Wanted(m[1], "xml")
    if name == "y000000000000.boot":
        return Wanted(None, "boot")
    if _YEALINK_COMMON.match(name):
        return Wanted(None, "common")
    return None


def user_agent_mac(user_agent: str) -> str | None:
    """The MAC a phone's User-Agent ends with (Yealink: ``… 00:15:65:4a:a9:37``; Grandstream:
    ``… DevId 000b828aa872``; Fanvil: ``… 0c383e07e16c``), normalised; None if it names none."""
    words = user_agent.lower().split()
    if not words or not _UA_MAC.match(words[-1]):
        return None
    return words[-1].replace(":", "").replace("-", "")


def _clean(value: object) -> object:
    """Every value written into a file: a line break in a name or password must not start a
    setting of its own."""
    return _CONTROL.sub(" ", value) if isinstance(value, str) else ("" if value is None else value)


_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["xml"]),
                         undefined=StrictUndefined, finalize=_clean, keep_trailing_newline=True,
                         trim_blocks=True, lstrip_blocks=True)

# (model family, kind of file) -> template, and what it is sent as
_TEMPLATE = {
    ("yealink", "boot"): ("yealink.boot", "text/plain"),
    ("yealink", "cfg"): ("yealink.cfg", "text/plain"),
    ("grandstream", "xml"): ("grandstream.xml", "application/xml"),
    ("grandstream-gxp", "xml"): ("grandstream-gxp.xml", "application/xml"),
    ("fanvil", "cfg"): ("fanvil.xml", "application/xml"),
}


def _offset(minutes: int, *, posix: bool = False) -> str:
    """+7, +5:30 (or POSIX's inverted sign: UTC-7, UTC-5:30)."""
    sign = "-" if (minutes < 0) != posix else "+"
    hours, rest = divmod(abs(minutes), 60)
    text = f"{sign}{hours}" + (f":{rest:02d}" if rest else "")
    return f"UTC{text}" if posix else text


def render(profile: Profile, kind: str, label: str | None = None) -> tuple[str, str] | None:
    """The file of ``kind`` for ``profile``'s device, and its content type; None: its family has
    no such file (another vendor's name for it)."""
    if kind == "common" and profile.model == "yealink":
        return "#!version:1.0.0.1\n## softswitch: every setting is in the phone's own <mac>.cfg\n", "text/plain"
    found = _TEMPLATE.get((profile.model, kind))
    if found is None:
        return None
    name, content_type = found
    body = _templates.get_template(name).render(
        p=profile, label=label, yealink_zone=_offset(profile.utc_offset_minutes),
        posix_zone=_offset(profile.utc_offset_minutes, posix=True), utc_name="UTC" + _offset(profile.utc_offset_minutes))
    return body, content_type
