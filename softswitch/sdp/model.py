"""SDP session descriptions (RFC 4566 §5), parsed and serialised without loss.

Theory of operation
-------------------
A description is its lines in order: the session section, then one section per
``m=`` line.  Each section keeps ``(type, value)`` pairs exactly as received, so
``str(parse_sdp(text)) == text`` for well-formed input (CRLF line ends; a bare LF
is accepted and written back as CRLF).  Typed views (origin, connection, media
line, rtpmap, attributes) are read from the lines on demand and written back by
replacing the line they came from, so what the switch does not touch passes
through untouched.  Parsing is bytes-safe: the text is decoded as UTF-8 with
surrogate escapes.  Errors are ``RemoteProtocolError`` with status 400.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..sip.errors import RemoteProtocolError

MAX_SDP = 65535
_SESSION_ORDER = "vosiuepcbtrzka"
_MEDIA_ORDER = "micbka"


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>``."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class MediaLine:
    """``m=<media> <port>[/<count>] <proto> <fmt> ...``."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None

    def __str__(self) -> str:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        return " ".join([self.media, port, self.proto, *self.formats])


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding>/<clock>[/<channels>]``."""

    payload: str
    encoding: str
    clock: int
    channels: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels else ""
        return f"{self.payload} {self.encoding}/{self.clock}{tail}"


@dataclass
class Section:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def values(self, kind: str) -> list[str]:
        return [v for k, v in self.lines if k == kind]

    def first(self, kind: str) -> str | None:
        return next((v for k, v in self.lines if k == kind), None)

    def attributes(self) -> list[tuple[str, str | None]]:
        """``a=name[:value]`` in order."""
        out: list[tuple[str, str | None]] = []
        for value in self.values("a"):
            name, colon, rest = value.partition(":")
            out.append((name, rest if colon else None))
        return out

    def attribute(self, name: str) -> str | None:
        """The first ``a=name:value`` value ('' for a flag), None if absent."""
        for attr, value in self.attributes():
            if attr == name:
                return "" if value is None else value
        return None

    def has_attribute(self, name: str) -> bool:
        return any(attr == name for attr, _ in self.attributes())

    def remove_attributes(self, *names: str) -> None:
        self.lines = [(k, v) for k, v in self.lines if not (k == "a" and v.partition(":")[0] in names)]

    def set_attribute(self, name: str, value: str | None) -> None:
        """Replace the first ``a=name`` (dropping others), or append it."""
        text = name if value is None else f"{name}:{value}"
        out: list[tuple[str, str]] = []
        done = False
        for k, v in self.lines:
            if k == "a" and v.partition(":")[0] == name:
                if not done:
                    out.append(("a", text))
                    done = True
                continue
            out.append((k, v))
        if not done:
            out.append(("a", text))
        self.lines = out

    def _replace(self, kind: str, value: str, order: str) -> None:
        for i, (k, _) in enumerate(self.lines):
            if k == kind:
                self.lines[i] = (kind, value)
                return
        # Insert where RFC 4566's order puts it.
        rank = order.index(kind)
        at = len(self.lines)
        for i, (k, _) in enumerate(self.lines):
            if k in order and order.index(k) > rank:
                at = i
                break
        self.lines.insert(at, (kind, value))

    @property
    def connection(self) -> Connection | None:
        text = self.first("c")
        return None if text is None else parse_connection(text)


@dataclass
class Media(Section):
    @property
    def line(self) -> MediaLine:
        return parse_media_line(self.lines[0][1])

    @line.setter
    def line(self, value: MediaLine) -> None:
        self.lines[0] = ("m", str(value))

    def set_connection(self, connection: Connection) -> None:
        self._replace("c", str(connection), _MEDIA_ORDER)

    def rtpmaps(self) -> dict[str, RtpMap]:
        out: dict[str, RtpMap] = {}
        for name, value in self.attributes():
            if name == "rtpmap" and value:
                try:
                    rtpmap = parse_rtpmap(value)
                except RemoteProtocolError:
                    continue
                out[rtpmap.payload] = rtpmap
        return out

    @property
    def direction(self) -> str:
        for name, _ in self.attributes():
            if name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return name
        return ""


@dataclass
class SessionDescription(Section):
    media: list[Media] = field(default_factory=list)

    def __str__(self) -> str:
        out = [f"{k}={v}\r\n" for k, v in self.lines]
        for m in self.media:
            out += [f"{k}={v}\r\n" for k, v in m.lines]
        return "".join(out)

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def set_connection(self, connection: Connection) -> None:
        self._replace("c", str(connection), _SESSION_ORDER)

    def media_connection(self, media: Media) -> Connection | None:
        """The connection that applies to ``media``: its own, else the session's."""
        return media.connection or self.connection

    def copy(self) -> SessionDescription:
        return SessionDescription(list(self.lines), [Media(list(m.lines)) for m in self.media])


@functools.lru_cache(maxsize=1024)  # frozen results; the same few lines in every call
def parse_connection(text: str) -> Connection:
    parts = text.split()
    if len(parts) != 3:
        raise RemoteProtocolError(f"SDP: bad c= line {text!r}")
    nettype, addrtype, address = parts
    return Connection(address.split("/")[0] if addrtype == "IP4" else address, addrtype, nettype)


@functools.lru_cache(maxsize=1024)  # frozen results; the same few lines in every call
def parse_media_line(text: str) -> MediaLine:
    parts = text.split()
    if len(parts) < 3:
        raise RemoteProtocolError(f"SDP: bad m= line {text!r}")
    port_text, slash, count = parts[1].partition("/")
    if not port_text.isdigit() or int(port_text) > 65535 or (slash and not count.isdigit()):
        raise RemoteProtocolError(f"SDP: bad port in m= line {text!r}")
    return MediaLine(parts[0], int(port_text), parts[2], tuple(parts[3:]), int(count) if slash else None)


@functools.lru_cache(maxsize=1024)  # frozen results; the same few lines in every call
def parse_rtpmap(text: str) -> RtpMap:
    payload, _, rest = text.partition(" ")
    pieces = rest.strip().split("/")
    if not payload.isdigit() or len(pieces) < 2 or not pieces[1].isdigit():
        raise RemoteProtocolError(f"SDP: bad rtpmap {text!r}")
    return RtpMap(payload, pieces[0], int(pieces[1]), pieces[2] if len(pieces) > 2 else None)


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse a session description; raises ``RemoteProtocolError`` (400) if malformed."""
    if isinstance(data, bytes):
        if len(data) > MAX_SDP:
            raise RemoteProtocolError("SDP: body too large")
        data = data.decode("utf-8", "surrogateescape")
    text = data.replace("\r\n", "\n")
    lines = [line for line in text.split("\n") if line != ""]
    if not lines or not lines[0].startswith("v="):
        raise RemoteProtocolError("SDP: must start with v=")
    session = SessionDescription()
    current: Section = session
    for line in lines:
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise RemoteProtocolError(f"SDP: malformed line {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            parse_media_line(value)
            media = Media([("m", value)])
            session.media.append(media)
            current = media
        else:
            current.lines.append((kind, value))
    if session.first("o") is None or session.first("s") is None:
        raise RemoteProtocolError("SDP: o= and s= are required")
    for section in (session, *session.media):
        connection = section.first("c")
        if connection is not None:
            parse_connection(connection)
    return session
