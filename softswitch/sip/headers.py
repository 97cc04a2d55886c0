"""Header field names and the structured values the stack reads (RFC 3261 §7.3, §20, §25).

Values are parsed from the unfolded text with LWS tolerated wherever the
grammar's SWS/LWS allows it (RFC 4475 §3.1.1.1).  Each parsed value keeps the
text it came from so that a message re-serialises byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import RemoteProtocolError
from .scanner import Scanner, is_token, quote
from .uri import SipUri, Uri, parse_uri

# RFC 3261 §7.3.3 and the IANA registry of compact forms.
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
    "v": "via", "o": "event", "r": "refer-to", "b": "referred-by", "u": "allow-events",
    "x": "session-expires", "a": "accept-contact", "j": "reject-contact",
    "d": "request-disposition", "y": "identity", "n": "identity-info",
}

# How we spell headers we write.
CANONICAL = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version", "rack": "RAck", "rseq": "RSeq",
    "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}

# Headers whose comma-separated values are separate entries (RFC 3261 §7.3.1);
# others (Authorization, WWW-Authenticate, Date, ...) contain commas of their own.
LIST_HEADERS = frozenset({
    "via", "contact", "route", "record-route", "allow", "supported", "require",
    "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
    "allow-events", "path", "service-route",
})


_KEYS: dict[str, str] = {}


def key_of(name: str) -> str:
    """The lower-case full name used to look a header up."""
    key = _KEYS.get(name)
    if key is None:
        lname = name.lower()
        key = COMPACT.get(lname, lname)
        if len(_KEYS) < 4096 and len(name) <= 64:  # names come from peers: keep the cache bounded
            _KEYS[name] = key
    return key


def canonical(name: str) -> str:
    key = key_of(name)
    return CANONICAL.get(key) or "-".join(part.capitalize() for part in key.split("-"))


def _params_text(params: tuple[tuple[str, str | None], ...]) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def param_of(params: tuple[tuple[str, str | None], ...], name: str) -> str | None:
    lname = name.lower()
    for pname, value in params:
        if pname.lower() == lname:
            return "" if value is None else value
    return None


def with_param(
    params: tuple[tuple[str, str | None], ...], name: str, value: str | None
) -> tuple[tuple[str, str | None], ...]:
    lname = name.lower()
    out = [(n, v) for n, v in params if n.lower() != lname]
    out.append((name, value))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    protocol: str = "SIP/2.0"
    raw: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{_params_text(self.params)}"

    def param(self, name: str) -> str | None:
        return param_of(self.params, name)

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return (self.host.lower(), self.port)

    def with_param(self, name: str, value: str | None) -> Via:
        return Via(self.transport, self.host, self.port, with_param(self.params, name, value), self.protocol)

    def stamped(self, host: str, port: int) -> Via:
        """This Via as the server transport passes it on: ``received`` added when the request
        came from another host than it names (RFC 3261 §18.2.1), or when ``rport`` asks for
        it, and ``rport`` filled with the source port (RFC 3581); else this one unchanged."""
        wants_rport = self.param("rport") is not None
        if not wants_rport and self.host.strip("[]").lower() == host.lower():
            return self
        stamped = self.with_param("received", host)
        return stamped.with_param("rport", str(port)) if wants_rport else stamped


def contact_value(user: str, host: str, port: int, transport: str) -> str:
    """A Contact header value for our own address: ``<sip:user@host:port[;transport=tcp]>``."""
    suffix = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    return f"<sip:{user}@{host}:{port}{suffix}>"


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``[display-name] <uri> *(;param)`` or the addr-spec form (RFC 3261 §20.10)."""

    uri: Uri
    display_name: str | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    raw: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        if self.display_name is None:
            head = f"<{self.uri}>"
        else:
            name = self.display_name
            shown = name if all(is_token(part) for part in name.split(" ")) and name else quote(name)
            head = f"{shown} <{self.uri}>"
        return head + _params_text(self.params)

    def param(self, name: str) -> str | None:
        return param_of(self.params, name)

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    @property
    def sip_uri(self) -> SipUri | None:
        return self.uri if isinstance(self.uri, SipUri) else None

    def with_param(self, name: str, value: str | None) -> NameAddr:
        return NameAddr(self.uri, self.display_name, with_param(self.params, name, value))


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5


_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_PARAMS = rf"((?:;{_TOKEN}(?:=[A-Za-z0-9\-.!%*_+`'~:\[\]]+)?)*)"
# The shapes nearly every phone sends, matched in C; anything else goes to the scanner.
_VIA_FAST = re.compile(rf"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{{1,5}}))?{_PARAMS}\Z")
_NAME_ADDR_FAST = re.compile(
    rf'(?:"([^"\\\x00-\x1f]*)" ?|({_TOKEN}(?: {_TOKEN})*) ?)?<([^<>\s"]+)>{_PARAMS}\Z'
)


def _split_params(text: str) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    for item in text[1:].split(";") if text else ():
        name, eq, value = item.partition("=")
        out.append((name, value if eq else None))
    return tuple(out)


def parse_via_list(value: str) -> list[Via]:
    m = _VIA_FAST.match(value)
    if m is not None and (m.group(3) is None or int(m.group(3)) <= 65535):
        port = m.group(3)
        return [Via(m.group(1).upper(), m.group(2), int(port) if port else None, _split_params(m.group(4)), raw=value)]
    return scan_via_list(value)


def scan_via_list(value: str) -> list[Via]:
    """The full grammar, LWS and all (RFC 4475 §3.1.1.1)."""
    sc = Scanner(value, "Via")
    out: list[Via] = []
    while True:
        sc.skip_ws()
        start = sc.pos
        name = sc.token()
        sc.expect("/")
        version = sc.token()
        sc.expect("/")
        transport = sc.token()
        sc.skip_ws()
        if sc.peek() == "[":
            host = sc.until("]") + "]"
            sc.pos += 1
        else:
            host = sc.token()
        if not host or host == "]":
            raise sc.error("missing sent-by host")
        port = None
        if sc.accept(":"):
            digits = sc.token()
            if not digits.isdigit() or int(digits) > 65535:
                raise sc.error(f"bad port {digits!r}")
            port = int(digits)
        params = tuple(sc.params("Via"))
        raw = value[start : sc.pos].rstrip()
        out.append(Via(transport.upper(), host, port, params, f"{name}/{version}", raw=raw))
        if sc.at_end():
            return out
        sc.expect(",")


def _parse_one_name_addr(sc: Scanner) -> NameAddr:
    sc.skip_ws()
    start = sc.pos
    display: str | None = None
    if sc.peek() == '"':
        display = sc.quoted_string()
        sc.skip_ws()
        if sc.peek() != "<":
            raise sc.error("expected '<' after the display name")
    elif sc.peek() != "<":
        # Look ahead: a run of tokens followed by '<' is a display name.
        probe = sc.pos
        words = sc.until("<\"")
        if sc.peek() == "<" and all(is_token(w) for w in words.split()):
            display = " ".join(words.split())
        else:
            sc.pos = probe
    if sc.peek() == "<":
        sc.pos += 1
        text = sc.until(">")
        if sc.peek() != ">":
            raise sc.error("missing '>'")
        sc.pos += 1
        if text != text.strip():
            raise sc.error("white space inside '<...>'")
        uri = parse_uri(text)
    else:
        text = sc.until(";, \t")
        uri = parse_uri(text)
        if isinstance(uri, SipUri) and uri.headers:
            raise sc.error("a URI with headers must be enclosed in '<>'")
    params = tuple(sc.params("header"))
    raw = sc.text[start : sc.pos].rstrip()
    return NameAddr(uri, display, params, raw=raw)


def parse_name_addr(value: str, what: str) -> NameAddr:
    m = _NAME_ADDR_FAST.match(value)
    if m is not None:
        quoted, words, uri, params = m.groups()
        display = quoted if quoted is not None else words
        return NameAddr(parse_uri(uri), display, _split_params(params), raw=value)
    return scan_name_addr(value, what)


def scan_name_addr(value: str, what: str) -> NameAddr:
    sc = Scanner(value, what)
    result = _parse_one_name_addr(sc)
    sc.skip_ws()
    if not sc.at_end():
        raise sc.error("unexpected text after the address")
    return result


def parse_name_addr_list(value: str, what: str) -> list[NameAddr]:
    if "," not in value:
        return [parse_name_addr(value, what)]
    sc = Scanner(value, what)
    out = []
    while True:
        out.append(_parse_one_name_addr(sc))
        sc.skip_ws()
        if sc.at_end():
            return out
        sc.expect(",")


def parse_cseq(value: str) -> CSeq:
    number, _, method = value.strip().partition(" ")
    method = method.strip()
    if not number.isdigit() or not number.isascii():
        raise RemoteProtocolError(f"CSeq: bad sequence number {number!r}")
    if len(number) > 12 or int(number) > MAX_CSEQ:
        raise RemoteProtocolError(f"CSeq: sequence number {number} is larger than 2**31-1")
    if not is_token(method):
        raise RemoteProtocolError(f"CSeq: bad method {method!r}")
    return CSeq(int(number), method)


def parse_int(value: str, what: str, maximum: int) -> int:
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise RemoteProtocolError(f"{what}: not a number: {value!r}")
    if len(text) > 12 or int(text) > maximum:
        raise RemoteProtocolError(f"{what}: {text} is larger than {maximum}")
    return int(text)


def split_list(value: str) -> list[str]:
    """Split a simple comma-separated list (Allow, Require, Supported, ...)."""
    return [item.strip() for item in value.split(",") if item.strip()]



@dataclass(frozen=True, slots=True)
class Replaces:
    """A Replaces header (RFC 3891 §6.1): the dialog a new INVITE takes the place of.  The
    tags are as the receiver of the INVITE sees the dialog: ``to_tag`` its own (local) tag,
    ``from_tag`` the remote one."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


def parse_replaces(value: str) -> Replaces:
    """``call-id;to-tag=x;from-tag=y[;early-only]``; ``RemoteProtocolError`` (400) otherwise.
    An empty ``from-tag`` is taken (a BLF key copies the tags of a dialog-info document,
    which gives a ringing phone's own tag only "if known", RFC 4235 §4.1.2): the ``to-tag``
    alone names a dialog of ours."""
    call_id, _, rest = value.strip().partition(";")
    params = {k.strip().lower(): (v or "").strip() for k, v in _split_params(";" + rest)} if rest else {}
    to_tag = params.get("to-tag")
    if not call_id.strip() or not to_tag:
        raise RemoteProtocolError(f"Replaces {value!r} needs a Call-ID and a to-tag", 400)
    return Replaces(call_id.strip(), to_tag, params.get("from-tag", ""), "early-only" in params)
