"""URIs in SIP messages (RFC 3261 §19.1, §25.1; RFC 3966 ``tel:``).

``parse_uri`` accepts any absolute URI: ``sip``/``sips`` URIs are parsed into
their parts; ``tel`` into number and parameters; every other scheme is kept
opaque, so that a message naming ``isbn:`` or ``http:`` still parses and the
application can answer ``416`` (RFC 4475 §3.3.2–3.3.4).  Parts keep the text
as written (escapes included); ``unescape`` gives the equivalent characters,
once, never recursively (RFC 4475 §3.1.1.3).
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, field, replace
from typing import Union

from .errors import RemoteProtocolError

_ALNUM = string.ascii_letters + string.digits
_UNRESERVED = _ALNUM + "-_.!~*'()"
_USER_CHARS = frozenset(_UNRESERVED + "&=+$,;?/%")
_PASSWORD_CHARS = frozenset(_UNRESERVED + "&=+$,%")
_PARAM_CHARS = frozenset(_UNRESERVED + "[]/:&+$%")
_HEADER_CHARS = frozenset(_UNRESERVED + "[]/?:+$%")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_OPAQUE_FORBIDDEN = frozenset(" \t\r\n<>\"")
_HEX = frozenset(string.hexdigits)


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (an IPv6 one with or without the brackets a URI puts
    round it), not a name to look up."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def unescape(text: str) -> str:
    """Replace each ``%HH`` by its octet (decoded as UTF-8, leniently); one pass only."""
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        if raw[i] == 0x25 and i + 2 < len(raw) and chr(raw[i + 1]) in _HEX and chr(raw[i + 2]) in _HEX:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


_PATTERNS: dict[frozenset[str], re.Pattern[str]] = {}


def _check_escapes(text: str, allowed: frozenset[str], what: str, uri: str) -> None:
    pattern = _PATTERNS.get(allowed)
    if pattern is None:
        chars = re.escape("".join(sorted(allowed - {"%"})))
        pattern = _PATTERNS[allowed] = re.compile(f"(?:[{chars}]|%[0-9A-Fa-f]{{2}})*")
    if pattern.fullmatch(text) is not None:
        return
    for i, ch in enumerate(text):  # say exactly what is wrong
        if ch not in allowed:
            raise RemoteProtocolError(f"URI {uri!r}: character {ch!r} not allowed in {what}")
        if ch == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                raise RemoteProtocolError(f"URI {uri!r}: '%' not followed by two hex digits in {what}")
    raise RemoteProtocolError(f"URI {uri!r}: bad {what}")


_HOST_RE = re.compile(r"[A-Za-z0-9.-]+")


@dataclass(frozen=True, slots=True)
class SipUri:
    scheme: str
    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    raw: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += [":", self.password]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += [":", str(self.port)]
        for name, value in self.params:
            parts += [";", name] if value is None else [";", name, "=", value]
        if self.headers:
            parts += ["?", "&".join(f"{n}={v}" for n, v in self.headers)]
        return "".join(parts)

    def param(self, name: str) -> str | None:
        """The value of URI parameter ``name`` (case-insensitive), '' for a flag, None if absent."""
        lname = name.lower()
        for pname, value in self.params:
            if pname.lower() == lname:
                return "" if value is None else value
        return None

    def has_param(self, name: str) -> bool:
        lname = name.lower()
        return any(pname.lower() == lname for pname, _ in self.params)

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    def replace(self, **changes: object) -> SipUri:
        return replace(self, raw=None, **changes)  # type: ignore[arg-type]

    def key(self) -> tuple[object, ...]:
        """Comparison key after RFC 3261 §19.1.4: case-insensitive scheme, host and
        parameter names; escapes resolved; the parameters that matter compared."""
        significant = {"user", "ttl", "method", "maddr", "transport"}
        params = tuple(
            sorted(
                (n.lower(), unescape(v).lower() if v is not None else "")
                for n, v in self.params
                if n.lower() in significant
            )
        )
        return (
            self.scheme.lower(),
            None if self.user is None else unescape(self.user),
            None if self.password is None else unescape(self.password),
            self.host.lower(),
            self.port,
            params,
            tuple(sorted((unescape(n).lower(), unescape(v)) for n, v in self.headers)),
        )


@dataclass(frozen=True, slots=True)
class TelUri:
    number: str
    params: tuple[tuple[str, str | None], ...] = ()
    raw: str | None = field(default=None, compare=False, repr=False)

    scheme = "tel"

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        return "tel:" + self.number + "".join(
            f";{n}" if v is None else f";{n}={v}" for n, v in self.params
        )

    def key(self) -> tuple[object, ...]:
        digits = "".join(ch for ch in self.number if ch not in "-.()")
        return ("tel", digits.lower(), tuple(sorted((n.lower(), (v or "").lower()) for n, v in self.params)))


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other scheme, kept as written."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def key(self) -> tuple[object, ...]:
        return (self.scheme.lower(), self.opaque)


Uri = Union[SipUri, TelUri, AbsoluteUri]


def _split_params(text: str, uri: str) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    for item in text.split(";"):
        if not item:
            raise RemoteProtocolError(f"URI {uri!r}: empty parameter")
        name, eq, value = item.partition("=")
        if not name:
            raise RemoteProtocolError(f"URI {uri!r}: parameter without a name")
        _check_escapes(name, _PARAM_CHARS, "a parameter name", uri)
        if eq:
            _check_escapes(value, _PARAM_CHARS, "a parameter value", uri)
            out.append((name, value))
        else:
            out.append((name, None))
    return tuple(out)


def _parse_host_port(text: str, uri: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RemoteProtocolError(f"URI {uri!r}: unterminated IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise RemoteProtocolError(f"URI {uri!r}: bad IPv6 address {host!r}") from None
    else:
        host, _, port_text = text.partition(":")
        rest = ":" + port_text if _ else ""
        if _HOST_RE.fullmatch(host) is None:
            raise RemoteProtocolError(f"URI {uri!r}: bad host {host!r}")
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii():
        raise RemoteProtocolError(f"URI {uri!r}: bad port {rest[1:]!r}")
    port = int(rest[1:])
    if port > 65535:
        raise RemoteProtocolError(f"URI {uri!r}: port {port} out of range")
    return host, port


_CACHE: dict[str, Uri] = {}
_CACHE_SIZE = 65536  # a phone brings two or three URIs
_CACHE_LONGEST = 256  # characters: a URI longer than a phone's is parsed each time, never kept (≤ ~40 MB in all)


def parse_uri(text: str) -> Uri:
    """Parse an absolute URI.  Results are immutable, and phones send the same URIs over and
    over (their AoR, Contact, the registrar's URI), so recent ones are remembered."""
    uri = _CACHE.get(text)
    if uri is None:
        uri = _parse_uri(text)
        if len(text) <= _CACHE_LONGEST:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.clear()
            _CACHE[text] = uri
    return uri


def _parse_uri(text: str) -> Uri:
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise RemoteProtocolError(f"URI {text!r}: not an absolute URI")
    lscheme = scheme.lower()
    if lscheme in ("sip", "sips"):
        return _parse_sip(text, scheme, rest)
    if lscheme == "tel":
        number, _, ptext = rest.partition(";")
        if not number or any(ch in _OPAQUE_FORBIDDEN or ch in ";?" for ch in number):
            raise RemoteProtocolError(f"URI {text!r}: bad telephone number")
        return TelUri(number, _split_params(ptext, text) if _ else (), raw=text)
    if not rest or any(ch in _OPAQUE_FORBIDDEN for ch in rest):
        raise RemoteProtocolError(f"URI {text!r}: bad characters")
    return AbsoluteUri(scheme, rest)


def _parse_sip(text: str, scheme: str, rest: str) -> SipUri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if not user:
            raise RemoteProtocolError(f"URI {text!r}: empty user part")
        _check_escapes(user, _USER_CHARS, "the user part", text)
        if colon:
            _check_escapes(pw, _PASSWORD_CHARS, "the password", text)
            password = pw
    rest, qmark, htext = rest.partition("?")
    headers: tuple[tuple[str, str], ...] = ()
    if qmark:
        items = []
        for item in htext.split("&"):
            name, eq, value = item.partition("=")
            if not name or not eq:
                raise RemoteProtocolError(f"URI {text!r}: bad header {item!r}")
            _check_escapes(name, _HEADER_CHARS, "a header name", text)
            _check_escapes(value, _HEADER_CHARS, "a header value", text)
            items.append((name, value))
        headers = tuple(items)
    hostport, semi, ptext = rest.partition(";")
    host, port = _parse_host_port(hostport, text)
    params = _split_params(ptext, text) if semi else ()
    return SipUri(scheme, host, user, password, port, params, headers, raw=text)

