"""SIP requests and responses: parse from bytes, serialise back (RFC 3261 §7, §18.3, §20).

Theory of operation
-------------------
``parse_message`` frames on bytes first (the body may hold any octet; RFC 4475
§3.1.1.11), decodes the header section leniently (UTF-8 with surrogate escapes,
so every octet survives), unfolds continuation lines, and validates eagerly
what decides whether a message is acceptable at all: the start line, Via,
From, To, Call-ID, CSeq, Max-Forwards, Content-Length and Contact.  Each
header keeps the exact bytes it arrived as, so ``bytes(msg)`` of an untouched
message equals the input; a header set or added by us is written in our own
spelling.  Parse failures raise ``MessageError`` (a ``RemoteProtocolError``)
carrying the headers read so far, so the receiving boundary can still build
a ``400`` that copies Via/From/To/Call-ID/CSeq.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Union

from .errors import RemoteProtocolError
from .headers import (
    CSeq,
    NameAddr,
    Via,
    canonical,
    key_of,
    parse_cseq,
    parse_int,
    parse_name_addr,
    parse_name_addr_list,
    parse_via_list,
    split_list,
)
from .scanner import is_token
from .uri import SipUri, Uri, parse_uri

SIP_VERSION = "SIP/2.0"
MAX_MESSAGE_SIZE = 65535  # default cap; transports may set a lower one
MAX_HEADERS = 256

REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}

_VERSION_RE = re.compile(r"SIP/\d+\.\d+\Z", re.IGNORECASE)
_SINGLE = ("call-id", "cseq", "from", "to", "max-forwards", "content-type")


_MISSING = object()


class MessageError(RemoteProtocolError):
    """A message we cannot accept, with what could be read of it."""

    def __init__(
        self, reason: str, status_hint: int = 400, *, is_request: bool | None = None,
        headers: list[Header] | None = None,
    ) -> None:
        super().__init__(reason, status_hint)
        self.is_request = is_request
        self.headers = headers or []


class Header:
    """One header field. ``raw`` is the field exactly as received (folding included; text
    decoded with surrogate escapes, so every octet survives), or None for ours.  ``key`` is
    the lower-case full name used for look-ups.  (A plain class: built a dozen times per
    message, so its constructor is kept to the bare assignments.)"""

    __slots__ = ("name", "value", "raw", "key")

    def __init__(self, name: str, value: str, raw: str | None = None) -> None:
        self.name = name
        self.value = value
        self.raw = raw
        self.key = key_of(name)

    def __repr__(self) -> str:
        return f"Header({self.name!r}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Header) and (self.name, self.value, self.raw) == (other.name, other.value, other.raw)

    __hash__ = None  # type: ignore[assignment]

    def text(self) -> str:
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


class Message:
    """Headers in order (repeated and comma-separated kept as they came) and a body."""

    __slots__ = ("headers", "body", "_cache", "_start_raw")

    def __init__(self, headers: list[Header] | None = None, body: bytes = b"") -> None:
        self.headers: list[Header] = headers if headers is not None else []
        self.body = body
        self._cache: dict[str, Any] = {}
        self._start_raw: str | None = None

    # --- raw access -------------------------------------------------------
    def _index(self) -> dict[str, list[str]]:
        """Values by header key, built once per message (until a header changes)."""
        index: dict[str, list[str]] | None = self._cache.get(" index")
        if index is None:
            index = {}
            for h in self.headers:
                values = index.get(h.key)
                if values is None:
                    index[h.key] = [h.value]
                else:
                    values.append(h.value)
            self._cache[" index"] = index
        return index

    def get(self, name: str) -> str | None:
        values = self._index().get(key_of(name))
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return list(self._index().get(key_of(name), ()))

    def values(self, name: str) -> list[str]:
        """Every comma-separated entry of a list header, across all its fields."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_list(value))
        return out

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def _changed(self, key: str) -> None:
        self._cache.pop(key, None)
        self._cache.pop(" index", None)

    def add(self, name: str, value: str) -> None:
        self.headers.append(Header(canonical(name), value))
        self._changed(key_of(name))

    def remove(self, name: str) -> None:
        key = key_of(name)
        self.headers = [h for h in self.headers if h.key != key]
        self._changed(key)

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one, kept at the first one's place."""
        key = key_of(name)
        for i, h in enumerate(self.headers):
            if h.key == key:
                self.headers[i] = Header(canonical(name), value)
                self.headers = self.headers[: i + 1] + [
                    x for x in self.headers[i + 1 :] if x.key != key
                ]
                break
        else:
            self.headers.append(Header(canonical(name), value))
        self._changed(key)

    # --- parsed views (cached) -------------------------------------------
    def _parsed(self, key: str, parse: Any) -> Any:
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            value = self._cache[key] = parse()
        return value

    @property
    def vias(self) -> list[Via]:
        return self._parsed("via", lambda: [v for text in self.get_all("via") for v in parse_via_list(text)])  # type: ignore[no-any-return]

    @property
    def from_(self) -> NameAddr:
        return self._parsed("from", lambda: parse_name_addr(self._required("from"), "From"))  # type: ignore[no-any-return]

    @property
    def to(self) -> NameAddr:
        return self._parsed("to", lambda: parse_name_addr(self._required("to"), "To"))  # type: ignore[no-any-return]

    @property
    def call_id(self) -> str:
        return self._required("call-id")

    @property
    def cseq(self) -> CSeq:
        return self._parsed("cseq", lambda: parse_cseq(self._required("cseq")))  # type: ignore[no-any-return]

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact entries; ``[]`` when absent. ``Contact: *`` is ``is_star_contact``."""
        def parse() -> list[NameAddr]:
            out: list[NameAddr] = []
            for text in self.get_all("contact"):
                if text.strip() == "*":
                    continue
                out.extend(parse_name_addr_list(text, "Contact"))
            return out
        return self._parsed("contact", parse)  # type: ignore[no-any-return]

    @property
    def is_star_contact(self) -> bool:
        return any(text.strip() == "*" for text in self.get_all("contact"))

    @property
    def max_forwards(self) -> int | None:
        text = self.get("max-forwards")
        return None if text is None else parse_int(text, "Max-Forwards", 255)

    @property
    def expires(self) -> int | None:
        """The Expires header as seconds; overlarge values are clamped (RFC 4475 §3.1.2.4)."""
        text = self.get("expires")
        if text is None:
            return None
        text = text.strip()
        if not text.isdigit() or not text.isascii():
            raise RemoteProtocolError(f"Expires: not a number: {text!r}")
        return min(int(text[:12]), 2**32 - 1)

    def _required(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise RemoteProtocolError(f"missing {canonical(key)} header")
        return value

    # --- serialisation ----------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        start = self._start_raw if self._start_raw is not None else self.start_line()
        head = "\r\n".join([start, *(h.text() for h in self.headers)])
        return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + self.body


class Request(Message):
    __slots__ = ("method", "uri")

    def __init__(self, method: str, uri: Uri, headers: list[Header] | None = None, body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def replace_top_via(self, via: Via) -> None:
        """Put ``via`` in place of the first Via value (the server transport stamps it with
        received/rport, RFC 3581); the others stay as they were."""
        vias = self.vias
        for i, h in enumerate(self.headers):
            if h.key == "via":
                in_first_field = 1 if "," not in h.value else len(parse_via_list(h.value))
                self.headers[i] = Header("Via", str(via))
                rest = vias[1:in_first_field]
                if rest:
                    self.headers.insert(i + 1, Header("Via", ", ".join(str(v) for v in rest)))
                break
        self._changed("via")
        self._cache["via"] = [via, *vias[1:]]  # what a re-parse would give

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str | None = None, headers: list[Header] | None = None, body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = REASONS.get(status, "Unknown") if reason is None else reason

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


SipMessage = Union[Request, Response]


def _split_headers(head: str, is_request: bool) -> list[Header]:
    """Unfold and split header lines; keep each field's exact text."""
    headers: list[Header] = []
    problem: str | None = None  # the first one; reading goes on so that a 400 can copy Via & co.
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t"):
            if not headers:
                problem = problem or "continuation line before the first header"
                continue
            last = headers[-1]
            last.value = (last.value + " " + line.strip()).strip()
            last.raw = f"{last.raw}\r\n{line}"
            continue
        name, colon, value = line.partition(":")
        if not colon or not is_token(name := name.rstrip(" \t")):
            problem = problem or f"malformed header line {line[:60]!r}"
            continue
        headers.append(Header(name, value.strip(" \t"), line))
        if len(headers) > MAX_HEADERS:
            raise MessageError(f"more than {MAX_HEADERS} header fields", is_request=is_request, headers=headers)
    if problem is not None:
        raise MessageError(problem, is_request=is_request, headers=headers)
    return headers


def parse_message(data: bytes, *, stream: bool = False, max_size: int = MAX_MESSAGE_SIZE) -> SipMessage:
    """Parse one message.  Over a datagram, octets beyond Content-Length are ignored
    (RFC 3261 §18.3); over a stream, ``data`` must be exactly one framed message."""
    if len(data) > max_size:
        raise too_large(data, len(data), max_size)
    offset = 0
    while data.startswith(b"\r\n", offset):  # RFC 3261 §7.5: CRLFs before the start line
        offset += 2
    end = data.find(b"\r\n\r\n", offset)
    is_request = not data.startswith(b"SIP/", offset)
    if end < 0:
        head_bytes = data[offset:].rstrip(b"\r\n")
        body_start = -1
    else:
        head_bytes = data[offset:end]
        body_start = end + 4
    head = head_bytes.decode("utf-8", "surrogateescape")
    start, _, rest = head.partition("\r\n")
    headers = _split_headers(rest, is_request) if rest else []
    if body_start < 0:
        raise MessageError("the header section does not end with an empty line", is_request=is_request, headers=headers)

    msg: SipMessage = _parse_request_line(start, headers) if is_request else _parse_status_line(start, headers)
    msg._start_raw = start

    try:
        lengths = {h.value.strip() for h in headers if h.key == "content-length"}
        if len(lengths) > 1:
            raise RemoteProtocolError(f"conflicting Content-Length values {sorted(lengths)}")
        if lengths:
            length = parse_int(lengths.pop(), "Content-Length", max_size)
            if body_start + length > len(data):
                raise RemoteProtocolError(
                    f"Content-Length {length} is larger than the {len(data) - body_start} octets received"
                )
            msg.body = data[body_start : body_start + length]
        elif stream:
            raise RemoteProtocolError("Content-Length is required on a stream transport")
        else:
            msg.body = data[body_start:]
        _validate(msg)
    except RemoteProtocolError as exc:
        if isinstance(exc, MessageError):
            raise
        raise MessageError(exc.reason, exc.status_hint, is_request=is_request, headers=headers) from None
    return msg


def too_large(data: bytes, size: int, max_size: int) -> MessageError:
    """A message of ``size`` octets, over ``max_size``: ``513 Message Too Large`` (RFC 3261
    §21.5.14) for a request whose header section fits in the limit (its Via and the rest are
    read from there, so that the answer can be sent); nothing to answer otherwise.  ``data``:
    the message, or its beginning up to the end of its header section at least."""
    why = f"message of {size} octets exceeds the {max_size}-octet limit"
    offset = 0
    while data.startswith(b"\r\n", offset):  # as parse_message: CRLFs before the start line
        offset += 2
    is_request = not data.startswith(b"SIP/", offset)
    end = data.find(b"\r\n\r\n", offset, max_size)
    if end < 0:
        return MessageError(why, 513, is_request=is_request)
    _, _, rest = data[offset:end].decode("utf-8", "surrogateescape").partition("\r\n")
    try:
        headers = _split_headers(rest, is_request)
    except MessageError as exc:
        headers = exc.headers
    return MessageError(why, 513, is_request=is_request, headers=headers)


def _parse_request_line(start: str, headers: list[Header]) -> Request:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        raise MessageError(f"malformed request line {start[:80]!r}", is_request=True, headers=headers)
    method, uri_text, version = parts
    if not is_token(method):
        raise MessageError(f"bad method {method[:40]!r}", is_request=True, headers=headers)
    if version != SIP_VERSION:
        if _VERSION_RE.match(version):
            status = 400 if version.upper() == SIP_VERSION else 505
            raise MessageError(f"SIP version {version!r} is not supported", status, is_request=True, headers=headers)
        raise MessageError(f"bad SIP version {version[:20]!r}", is_request=True, headers=headers)
    try:
        uri = parse_uri(uri_text)
    except RemoteProtocolError as exc:
        raise MessageError(f"Request-URI: {exc.reason}", is_request=True, headers=headers) from None
    if isinstance(uri, SipUri) and uri.headers:
        raise MessageError(f"Request-URI {uri_text!r} must not contain headers", is_request=True, headers=headers)
    return Request(method, uri, headers)


def _parse_status_line(start: str, headers: list[Header]) -> Response:
    version, _, rest = start.partition(" ")
    code, _, reason = rest.partition(" ")
    if version != SIP_VERSION:
        raise MessageError(f"bad SIP version in status line {start[:40]!r}", is_request=False, headers=headers)
    if len(code) != 3 or not code.isdigit() or not code.isascii() or not 100 <= int(code) <= 699:
        raise MessageError(f"bad status code {code[:20]!r}", is_request=False, headers=headers)
    return Response(int(code), reason, headers)


def _validate(msg: SipMessage) -> None:
    """The checks every message must pass before anyone acts on it (RFC 3261 §8.2, §16.3)."""
    counts: dict[str, int] = {}
    for h in msg.headers:
        counts[h.key] = counts.get(h.key, 0) + 1
    for key in _SINGLE:
        if counts.get(key, 0) > 1:
            raise RemoteProtocolError(f"{canonical(key)} appears {counts[key]} times; it must appear once")
    for key in ("via", "from", "to", "call-id", "cseq"):
        if not counts.get(key):
            raise RemoteProtocolError(f"missing {canonical(key)} header")
    if not msg.call_id or any(ch in " \t" for ch in msg.call_id):
        raise RemoteProtocolError(f"bad Call-ID {msg.call_id!r}")
    if not msg.vias:
        raise RemoteProtocolError("empty Via header")
    msg.from_, msg.to  # noqa: B018  (parse now: a broken address is a 400)
    cseq = msg.cseq
    if isinstance(msg, Request):
        if cseq.method != msg.method:
            known = msg.method in KNOWN_METHODS
            raise RemoteProtocolError(
                f"CSeq method {cseq.method!r} does not match the request method {msg.method!r}",
                400 if known else 501,
            )
        msg.max_forwards  # noqa: B018
        msg.expires  # noqa: B018
        # Contact is parsed where it is used (registrar, dialogs): a malformed one still
        # earns a 400 then, without costing every challenged REGISTER a parse.


KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
    "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
})


def new_request(method: str, uri: Uri, via: str, from_: str, to: str, call_id: str, extra: Iterable[Header] = (),
                body: bytes = b"", content_type: str | None = None, route: Iterable[str] = ()) -> Request:
    """A request the switch sends of its own, the first of its Call-ID (CSeq 1): RFC 3261
    §8.1.1's headers (``route``: a preloaded route set, such as a registration's Path), then
    ``extra``, then the body's type and length."""
    headers = [Header("Via", via), Header("Max-Forwards", "70"), *[Header("Route", hop) for hop in route],
               Header("From", from_), Header("To", to),
               Header("Call-ID", call_id), Header("CSeq", f"1 {method}"), *extra]
    if content_type is not None:
        headers.append(Header("Content-Type", content_type))
    headers.append(Header("Content-Length", str(len(body))))
    return Request(method, uri, headers, body)


DIALOG_CREATING = frozenset(("INVITE", "SUBSCRIBE", "REFER", "NOTIFY"))


def make_response(request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6: Via, From, To, Call-ID, CSeq copied,
    and a To tag added (except to 100) when the request had none; a response that establishes
    a dialog copies the request's Record-Route too (§12.1.1), so the phone's requests in that
    dialog go back through the proxies that asked to stay on its path."""
    headers = [h for h in request.headers if h.key == "via"]
    add_tag = to_tag is not None and status != 100 and request.to.tag is None
    if 100 < status < 300 and request.method in DIALOG_CREATING and request.to.tag is None:
        headers += [h for h in request.headers if h.key == "record-route"]
    for key in ("from", "to", "call-id", "cseq"):
        for h in request.headers:
            if h.key == key:
                if key == "to" and add_tag:
                    # Appending is right for both forms: after an addr-spec or a '>' come header params.
                    h = Header("To", f"{h.value};tag={to_tag}")
                headers.append(h)
                break
    if status == 100:
        ts = request.get("timestamp")
        if ts is not None:
            headers.append(Header("Timestamp", ts))
    return Response(status, reason, headers)


def make_error_response(data_headers: list[Header], status: int, reason: str) -> Response:
    """A stateless error response to a request we could not parse: copy whatever of
    Via/From/To/Call-ID/CSeq was readable (RFC 4475 §2 expects this)."""
    headers = [h for h in data_headers if h.key in ("via", "from", "to", "call-id", "cseq")]
    resp = Response(status, reason, headers)
    resp.set("Content-Length", "0")
    return resp
