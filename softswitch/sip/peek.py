"""A glance at a new request before it is parsed, so that the switch can answer it
statelessly (RFC 3261 §8.2.7) for the least work: an INVITE refused while overloaded, a
REGISTER's challenge.

Under a flood of new calls most INVITEs are answered ``503``; half of the REGISTERs a
registrar takes are a phone's first, answered with a challenge.  Parsing each one in full
(every header, the Request-URI, the addresses: ~25 µs) and keeping a transaction for it
costs more than the rest of the answer.  ``peek_new`` reads only what a stateless answer
needs: the fields it copies (Via, From, To, Call-ID, CSeq, §8.2.6) and the top Via's branch
and sent-by, which tell a retransmission of a transaction already made (§17.2.3), and notes
whether the request carries fields that change its answer (credentials, ``Require``).  It
reads them only in the plain shape nearly every sender uses: one field each (full or
compact names), one Via value with a magic-cookie branch, no folded line, a To with no tag
(nothing that could be one), CSeq ``N <method>``, a ``SIP/2.0`` request line.  Anything
else gives None and the message takes the full parse, which decides as before.  A message
the glance accepts may still be one the parser would refuse (a malformed Request-URI, an
out-of-range Max-Forwards): it gets the stateless answer, as the full path would answer it
first too (authentication comes first, §8.2; under overload any request may get a ``503``).
Pure: bytes in, bytes out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RemoteProtocolError
from .headers import MAX_CSEQ, Via, parse_via_list
from .layer import has_cookie

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id"}
_COPIED = frozenset(("via", "from", "to", "call-id", "cseq"))
_NOTED = frozenset(("authorization", "proxy-authorization", "require", "proxy-require"))  # present or not


@dataclass(frozen=True, slots=True)
class Peek:
    """A new request as far as its stateless answer needs it.  The ``*_line`` fields are the
    header lines exactly as received; the values are stripped."""

    via: Via  # the one Via value, parsed
    from_line: str
    from_value: str
    to_line: str
    call_id_line: str
    call_id: str
    cseq_line: str
    cseq: int
    uri: str  # the Request-URI, as received
    to_value: str
    noted: frozenset[str]  # which of Authorization, Proxy-Authorization, Require, Proxy-Require it has (lower case)


def peek_new(data: bytes, method: str) -> Peek | None:
    """``data`` as a new ``method`` request in the plain shape, or None."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    start, _, rest = data[:end].decode("utf-8", "surrogateescape").partition("\r\n")
    parts = start.split(" ")
    if len(parts) != 3 or parts[0] != method or parts[2] != "SIP/2.0":
        return None
    found: dict[str, tuple[str, str]] = {}
    noted: set[str] = set()
    for line in rest.split("\r\n"):
        if line[:1] in (" ", "\t"):
            return None  # folded: the parser unfolds
        name, colon, value = line.partition(":")
        if not colon:
            return None
        key = name.rstrip(" \t").lower()
        key = _COMPACT.get(key, key)
        if key in _COPIED:
            if key in found:
                return None  # two Via fields, two Froms...: the parser decides
            found[key] = (line.rstrip(" \t"), value.strip(" \t"))
        elif key in _NOTED:
            noted.add(key)
    if len(found) != len(_COPIED):
        return None
    via_text = found["via"][1]
    to_line, to_text = found["to"]
    call_id_line, call_id = found["call-id"]
    cseq_line, cseq_text = found["cseq"]
    number, _, cseq_method = cseq_text.partition(" ")
    if "," in via_text or "tag" in to_text.lower() or cseq_method != method or not number.isascii() \
            or not number.isdigit() or len(number) > 10 or int(number) > MAX_CSEQ or not call_id or " " in call_id \
            or "\t" in call_id:
        return None  # (``isdigit`` alone takes "²" and "١": the parser decides those)
    try:
        vias = parse_via_list(via_text)
    except RemoteProtocolError:
        return None
    if len(vias) != 1 or not has_cookie(vias[0].branch):
        return None
    return Peek(vias[0], found["from"][0], found["from"][1], to_line, call_id_line, call_id, cseq_line, int(number),
                parts[1], to_text, frozenset(noted))


def stateless_answer(peek: Peek, status: int, reason: str, to_tag: str, headers: tuple[tuple[str, str], ...],
                     host: str, port: int) -> bytes:
    """The response to ``peek``'s request (§8.2.6): its Via stamped with where it came from
    (``received``/``rport``, RFC 3581), From, To with ``to_tag``, Call-ID and CSeq as they came,
    then ``headers`` and an empty body."""
    lines = [
        f"SIP/2.0 {status} {reason}", f"Via: {peek.via.stamped(host, port)}", peek.from_line,
        f"{peek.to_line};tag={to_tag}", peek.call_id_line, peek.cseq_line,
        *(f"{name}: {value}" for name, value in headers), "Content-Length: 0", "", "",
    ]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")
