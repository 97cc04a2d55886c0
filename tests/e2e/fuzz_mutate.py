"""Mutated SIP messages, PROTOS c07-sip style, for the fuzz run (``tests/e2e/fuzz_run.py``).

Seeds are the RFC 4475 torture messages (the in-repo copy, ``tests/golden/rfc4475``) and what
real phones send (``fuzz_seeds/``: REGISTER, INVITE, OPTIONS, SUBSCRIBE, BYE, CANCEL, ACK and a
response as a Yealink T46S, a Grandstream GXP2170 and baresip 2 write them).  Each message is
one seed, tagged so that answers can be told apart (its Call-ID and Via branch carry
``fz<n>q``), then put through zero to three mutations: byte flips, header duplication, numeric
fields (Content-Length, CSeq, Max-Forwards, Expires, ports) set to ±1/0/−1/2³²/2⁶⁴ and worse,
values of 64 KB, truncation, damaged line ends, bad UTF-8, dropped or renamed headers, broken
start lines, URIs, parameters and SDP, splices of two seeds, and plain junk.

Pure and deterministic: message ``n`` of run ``seed`` comes from its own random source
(``random.Random(f"fuzz:{seed}:{n}")``), so any one message can be made again without the ones
before it (``scripts/fuzz --seed S --show N``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEEDS_DIR = Path(__file__).parent / "fuzz_seeds"
RFC4475_DIR = Path(__file__).parents[1] / "golden" / "rfc4475"
UDP_LIMIT = 65507  # the largest UDP payload over IPv4
TCP_SHARE = 0.25
TOKEN_RE = re.compile(rb"fz([0-9a-f]{1,8})q")
SCAN = 1024  # numeric fields are looked for this far into a line: some patterns are quadratic on 64 KB


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes


@dataclass(frozen=True)
class Case:
    n: int
    seed: str
    transport: str  # "UDP" or "TCP"
    mutations: tuple[str, ...]
    data: bytes

    def describe(self) -> str:
        return f"#{self.n} {self.transport} {self.seed}: {'; '.join(self.mutations) or 'unmutated'}"


def token(n: int) -> bytes:
    return b"fz%xq" % n


def load_seeds() -> tuple[list[Seed], list[Seed]]:
    """(device seeds, RFC 4475 seeds); the corpus is checked byte for byte against EXPECTED.json."""
    from ..golden.corpus import CASES

    devices = [Seed(f"device/{p.name}", p.read_bytes()) for p in sorted(SEEDS_DIR.glob("*.sip"))]
    torture = [Seed(f"rfc4475/{c.file}", c.data) for c in CASES]
    return devices, torture


# --- the message as lines ---------------------------------------------------------------------

@dataclass
class Parts:
    start: bytes
    headers: list[bytes]
    body: bytes | None  # None: no empty line ended the header section

    @classmethod
    def of(cls, data: bytes) -> Parts:
        end = data.find(b"\r\n\r\n")
        head, body = (data, None) if end < 0 else (data[:end], data[end + 4:])
        lines = head.split(b"\r\n")
        return cls(lines[0], lines[1:], body)

    def join(self) -> bytes:
        head = b"\r\n".join([self.start, *self.headers])
        return head if self.body is None else head + b"\r\n\r\n" + self.body

    def find(self, *names: bytes) -> list[int]:
        return [i for i, line in enumerate(self.headers) if header_name(line) in names]


def header_name(line: bytes) -> bytes:
    name, colon, _ = line.partition(b":")
    return name.strip().lower() if colon else b""


COMPACT = {b"via": b"v", b"from": b"f", b"to": b"t", b"call-id": b"i", b"contact": b"m",
           b"content-length": b"l", b"content-type": b"c", b"supported": b"k", b"subject": b"s",
           b"session-expires": b"x", b"event": b"o"}
ALIASES = {**{v: k for k, v in COMPACT.items()}, **{k: k for k in COMPACT}}


def names(canonical: bytes) -> tuple[bytes, ...]:
    short = COMPACT.get(canonical)
    return (canonical, short) if short else (canonical,)


def tag(data: bytes, n: int) -> bytes:
    """Put message ``n``'s token in its Call-ID and Via branches, so each is a new transaction
    and a new call, and its answers name it."""
    t = token(n)
    parts = Parts.of(data)
    for i, line in enumerate(parts.headers):
        name = header_name(line)
        if name in (b"call-id", b"i"):
            colon = line.index(b":") + 1
            rest = line[colon:]
            stripped = rest.lstrip(b" \t")
            parts.headers[i] = line[:colon] + rest[:len(rest) - len(stripped)] + t + b"-" + stripped
        elif name in (b"via", b"v"):
            parts.headers[i] = re.sub(rb"(?i)(branch\s*=\s*)(z9hG4bK)?", lambda m: m.group(0) + t + b".", line)
    return parts.join()


# --- mutations --------------------------------------------------------------------------------

Mutator = Callable[[random.Random, bytes, int], tuple[bytes, str]]

SPECIAL_BYTES = b"\x00\xff\r\n :;,<>\"%@=\t\\/?*[]{}\x7f\x80"
NUMBERS = [b"0", b"-1", b"1", b"2147483647", b"2147483648", b"-2147483649", b"4294967295", b"4294967296",
           b"4294967297", b"9223372036854775807", b"9223372036854775808", b"18446744073709551615",
           b"18446744073709551616", b"18446744073709551617", b"1" + b"0" * 100, b"", b"abc", b"0x10", b"1e3",
           b" 007 ", b"-0", b"+5", b"\xef\xbc\x91\xef\xbc\x92", b"4294967296.5", b"99999999999999999999999"]
BAD_UTF8 = [b"\xc0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
            b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\xff\xfe", b"\x80", b"\xbf\xbf", b"\xe2\x82", b"\xf0\x9f\x98",
            b"\xc3", b"\x00", b"\x01\x02\x1b[31m", b"\x7f", b"\xef\xbb\xbf", b"\xc3\xa9", b"\xe4\xb8\xad",
            b"\xf0\x9f\x98\x80", b"\xe2\x80\xae", b"\xc2\xa0"]
METHODS = [b"ACK", b"BYE", b"CANCEL", b"OPTIONS", b"REGISTER", b"INVITE", b"PRACK", b"UPDATE", b"INFO", b"NOTIFY",
           b"SUBSCRIBE", b"REFER", b"MESSAGE", b"PUBLISH", b"invite", b"INV ITE", b"", b"X" * 300,
           b"\xc3\x84CK", b"GET", b"INVITE\x00", b"!%*_+`'~", b"NEWMETHOD"]
VERSIONS = [b"SIP/2.1", b"SIP/1.0", b"sip/2.0", b"SIP/2.0 ", b"HTTP/1.1", b"SIP/20", b"", b"SIP/", b"SIP/2.0/UDP",
            b"SIP/99999999999999999999.0", b"SIP /2.0"]
URIS = [b"sip:", b"sip:@", b"sip:user@", b"sip:[::1", b"sip:user@[v1.fe80::a+en1]", b"sip:user@256.300.1.1:99999",
        b"sips:user@acme.example;transport=sctp", b"tel:+1-(555)", b"mailto:x@y", b"sip:%00@acme.example",
        b"sip:user;lr@acme.example", b"sip:a@acme.example?Route=%3Csip:evil%3E", b"*", b"sip:a@b;maddr=255.255.255.255",
        b"sip:a@acme.example:0", b"sip:a@acme.example:65536", b"sip:a@acme.example:-1", b"sip:a@acme.example:4294967296",
        b"<sip:a@acme.example>", b"sip:a@acme.example;" + b";" * 200, b"sip:101@127.0.0.1", b"sip:a@[::ffff:127.0.0.1]",
        b"sip:a%zz@acme.example", b"sip:" + b"a" * 1000 + b"@acme.example", b"sip:a@" + b"b." * 300 + b"example",
        b"urn:service:sos", b"sip:a@acme.example;transport=", b"sip:a@acme.example;=x", b"sip:\xc0\x80@acme.example"]
PARAMS = [b";tag=", b";tag=a;tag=b", b";branch=", b";branch=z9hG4bK", b";received=garbage", b";rport=0",
          b";rport=65536", b";rport=abc", b";ttl=256", b";maddr=0.0.0.0", b";=x", b";x=\"unterminated",
          b";expires=-1", b";expires=4294967296", b";q=2.0", b";q=-1", b";lr", b";transport=xyz",
          b";" + b"p=v;" * 500, b";tag=" + b"x" * 2000, b";branch=z9hG4bK" + b"\x00" * 8]


def _pos(rng: random.Random, data: bytes | bytearray) -> int:
    return rng.randrange(len(data)) if data else 0


def flip(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    if not data:
        return b"\x00", "empty->NUL"
    buf = bytearray(data)
    k = rng.choice([1, 1, 1, 2, 3, 4, 8, 16, 32, 64])
    at = []
    for _ in range(k):
        i = _pos(rng, buf)
        r = rng.random()
        if r < 0.4:
            buf[i] ^= 1 << rng.randrange(8)
        elif r < 0.7:
            buf[i] = rng.randrange(256)
        else:
            buf[i] = rng.choice(SPECIAL_BYTES)
        at.append(i)
    return bytes(buf), f"x{k} @{','.join(map(str, sorted(at)[:4]))}{'...' if k > 4 else ''}"


def duplicate(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    if not parts.headers:
        return data + data, "doubled"
    if rng.random() < 0.1:
        parts.headers = parts.headers * 2
        return parts.join(), "every header twice"
    i = rng.randrange(len(parts.headers))
    line = parts.headers[i]
    room = max(1, (limit - len(data)) // (len(line) + 2))
    count = min(room, rng.choice([1, 1, 2, 5, 10, 100, 1000, 5000]))
    where = rng.choice(["next", "end", "first"])
    copies = [line] * count
    if where == "next":
        parts.headers[i + 1:i + 1] = copies
    elif where == "end":
        parts.headers += copies
    else:
        parts.headers[0:0] = copies
    return parts.join(), f"dup {header_name(line)[:20]!r} x{count} {where}"


def _numeric_targets(parts: Parts) -> list[tuple[str, int, re.Pattern[bytes]]]:
    """(what, header index, pattern whose group 1 is the number): -1 means the start line."""
    out: list[tuple[str, int, re.Pattern[bytes]]] = []
    whole = re.compile(rb":\s*([^\r\n;,]*)")
    first = re.compile(rb":\s*(\S*)")
    for i, line in enumerate(parts.headers):
        name = header_name(line)
        if name in (b"content-length", b"l", b"max-forwards", b"expires", b"min-expires", b"min-se",
                    b"retry-after", b"rseq"):
            out.append((name.decode("latin-1"), i, whole))
        elif name in (b"cseq", b"session-expires", b"x", b"rack"):
            out.append((name.decode("latin-1"), i, first))
        elif name in (b"via", b"v"):
            out.append(("via port", i, re.compile(rb"SIP\s*/\s*2\.0\s*/\s*\w+\s+[^:;\s]+:(\d*)", re.I)))
            out.append(("rport", i, re.compile(rb";\s*rport=(\d*)", re.I)))
        elif name in (b"contact", b"m"):
            out.append(("contact expires", i, re.compile(rb";\s*expires=([^;,\s]*)", re.I)))
    out.append(("uri port", -1, re.compile(rb"^\S+\s+\S*?@?[^:@\s;>]+:(\d+)")))
    return [(what, i, p) for what, i, p in out if p.search(parts.start if i < 0 else parts.headers[i], 0, SCAN)]


def number(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    targets = _numeric_targets(parts)
    if rng.random() < 0.15 or not targets:  # a field the message lacks
        name = rng.choice([b"Expires", b"Max-Forwards", b"Content-Length", b"Min-Expires", b"Session-Expires"])
        value = rng.choice(NUMBERS)
        parts.headers.insert(rng.randrange(len(parts.headers) + 1), name + b": " + value)
        return parts.join(), f"add {name.decode()}: {value[:24]!r}"
    what, i, pattern = rng.choice(targets)
    line = parts.start if i < 0 else parts.headers[i]
    m = pattern.search(line, 0, SCAN)
    assert m is not None
    old = m.group(1)
    if old.strip().lstrip(b"-").isdigit() and len(old) < 30 and rng.random() < 0.3:
        value = str(int(old) + rng.choice([1, -1])).encode()
    else:
        value = rng.choice(NUMBERS)
    line = line[:m.start(1)] + value + line[m.end(1):]
    if i < 0:
        parts.start = line
    else:
        parts.headers[i] = line
    return parts.join(), f"{what} {old[:12]!r}->{value[:24]!r}"


def _big(rng: random.Random, size: int) -> tuple[bytes, str]:
    pattern = rng.choice([b"a", b"%41", b",", b",sip:a@b", b";p=v", b"<", b'"', b" ", b"\\", b"9", b"\xc3\xa9", b"a@",
                          b"=", b"<sip:a@b>,", b"\t"])
    value = (pattern * (size // len(pattern) + 1))[:max(0, size)]
    if pattern == b'"':
        value = b'"' + b"a" * (size - 1)
    return value, pattern.decode("latin-1")


def huge(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    """A value of about 64 KB (as large as the transport takes, or just past the switch's 65,535)."""
    total = limit if limit <= UDP_LIMIT else rng.choice([65000, 65535, 65536, 70000])
    size = max(16, total - len(data) - 40)
    if limit <= UDP_LIMIT:
        size = min(size, rng.choice([size, size, 8192, 65000 - len(data)]))
    value, pattern = _big(rng, size)
    parts = Parts.of(data)
    where = rng.choice(["header", "header", "header", "new", "name", "uri", "display", "param", "body"])
    if where == "header" and parts.headers:
        i = rng.randrange(len(parts.headers))
        name = parts.headers[i].partition(b":")[0]
        parts.headers[i] = name + b": " + value
        where = f"value of {name.strip()[:20]!r}"
    elif where == "name":
        parts.headers.append(value.replace(b":", b"_") + b": x")
    elif where == "uri":
        pieces = parts.start.split(b" ")
        if len(pieces) >= 2:
            pieces[1] = b"sip:" + value.replace(b" ", b"a") + b"@acme.example"
        parts.start = b" ".join(pieces)
    elif where == "display":
        found = parts.find(b"from", b"f", b"to", b"t", b"contact", b"m")
        if found:
            i = rng.choice(found)
            name, _, rest = parts.headers[i].partition(b":")
            parts.headers[i] = name + b": \"" + value.replace(b'"', b"a") + b"\" " + rest.strip()
    elif where == "param":
        found = parts.find(b"via", b"v", b"from", b"f", b"to", b"t", b"contact", b"m")
        if found:
            i = rng.choice(found)
            parts.headers[i] += b";x=" + value.replace(b";", b"a")
    elif where == "body":
        parts.body = value
    else:
        parts.headers.append(b"X-Fuzz: " + value)
    return parts.join(), f"{len(value)} B {where} ({pattern!r})"


def truncate(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    if len(data) < 2:
        return b"", "truncated to nothing"
    end = data.find(b"\r\n\r\n")
    choices = [_pos(rng, data), len(data) - 1, len(data) - 2, rng.randrange(1, max(2, data.find(b"\r\n") + 1))]
    if end > 0:
        choices += [end, end + 2, end + 3, rng.randrange(end, len(data))]
    at = max(0, min(rng.choice(choices), len(data) - 1))
    return data[:at], f"cut at {at}/{len(data)}"


def crlf(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    kind = rng.choice(["LF", "CR", "LFCR", "CRCRLF", "one", "split", "early", "fold", "lead", "noend", "trail", "mixed"])
    if kind == "LF":
        return data.replace(b"\r\n", b"\n"), "CRLF->LF"
    if kind == "CR":
        return data.replace(b"\r\n", b"\r"), "CRLF->CR"
    if kind == "LFCR":
        return data.replace(b"\r\n", b"\n\r"), "CRLF->LFCR"
    if kind == "CRCRLF":
        return data.replace(b"\r\n", b"\r\r\n"), "CRLF->CRCRLF"
    if kind == "mixed":
        pieces = data.split(b"\r\n")
        return b"".join(p + rng.choice([b"\r\n", b"\n", b"\r", b"\r\n"]) for p in pieces[:-1]) + pieces[-1], "mixed line ends"
    ends = [m.start() for m in re.finditer(rb"\r\n", data)]
    if kind == "one" and ends:
        i = rng.choice(ends)
        new = rng.choice([b"", b"\n", b"\r", b" ", b"\r\n\r\n"])
        return data[:i] + new + data[i + 2:], f"CRLF@{i}->{new!r}"
    if kind == "split":
        i = _pos(rng, data)
        return data[:i] + b"\r\n" + data[i:], f"CRLF inserted @{i}"
    if kind == "early" and ends:
        i = rng.choice(ends)
        return data[:i] + b"\r\n\r\n" + data[i + 2:], f"header section ends @{i}"
    if kind == "fold":
        i = _pos(rng, data)
        fold = rng.choice([b"\r\n ", b"\r\n\t", b"\r\n   \r\n "])
        return data[:i] + fold + data[i:], f"folded @{i}"
    if kind == "lead":
        return b"\r\n" * rng.choice([1, 2, 3, 100]) + data, "leading CRLFs"
    if kind == "noend":
        return data.replace(b"\r\n\r\n", b"\r\n", 1), "no empty line"
    return data + rng.choice([b"\r\n", b"\r\n\r\n", b"junk after", b"\x00" * 10, data]), "trailing bytes"


def utf8(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    bad = rng.choice(BAD_UTF8) * rng.choice([1, 1, 1, 3, 50])
    parts = Parts.of(data)
    where = rng.choice(["value", "value", "display", "uri", "name", "body", "start"])
    if where == "start" or not parts.headers:
        return bad + data, f"{bad[:8]!r} at start"
    if where == "body" and parts.body:
        i = _pos(rng, parts.body)
        parts.body = parts.body[:i] + bad + parts.body[i:]
    elif where == "uri":
        pieces = parts.start.split(b" ")
        if len(pieces) >= 2:
            i = _pos(rng, pieces[1])
            pieces[1] = pieces[1][:i] + bad + pieces[1][i:]
        parts.start = b" ".join(pieces)
    elif where == "display":
        found = parts.find(b"from", b"f", b"to", b"t", b"contact", b"m")
        i = rng.choice(found) if found else 0
        name, _, rest = parts.headers[i].partition(b":")
        parts.headers[i] = name + b": \"" + bad + b"\" " + rest.strip()
    elif where == "name":
        i = rng.randrange(len(parts.headers))
        name, colon, rest = parts.headers[i].partition(b":")
        parts.headers[i] = name + bad + colon + rest
    else:
        i = rng.randrange(len(parts.headers))
        line = parts.headers[i]
        j = rng.randrange(min(len(line), line.find(b":") + 1), len(line) + 1) if line else 0
        parts.headers[i] = line[:j] + bad + line[j:]
    return parts.join(), f"{bad[:8]!r} in {where}"


MANDATORY = [b"via", b"from", b"to", b"call-id", b"cseq", b"max-forwards", b"content-length", b"contact",
             b"content-type"]


def drop(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    if not parts.headers:
        return data, "no header to drop"
    if rng.random() < 0.7:
        name = rng.choice(MANDATORY)
        gone = set(names(name))
    else:
        gone = {header_name(rng.choice(parts.headers))}
        name = next(iter(gone))
    parts.headers = [h for h in parts.headers if header_name(h) not in gone]
    return parts.join(), f"no {name[:20]!r}"


def rename(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    if not parts.headers:
        return data, "no header to rename"
    i = rng.randrange(len(parts.headers))
    name, colon, rest = parts.headers[i].partition(b":")
    canonical = ALIASES.get(name.strip().lower(), name.strip().lower())
    new = rng.choice([name.upper(), name.lower(), COMPACT.get(canonical, name), name + b" ", b" " + name, name + b"\t",
                      b"", name + b"x", b"X-" + name, name.replace(b"-", b"_"), name + b":" + name])
    sep = rng.choice([colon, colon, b"", b"::", b" : ", b"="])
    parts.headers[i] = new + sep + rest
    return parts.join(), f"header {name[:16]!r}->{new[:16]!r}{sep!r}"


def start_line(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    pieces = parts.start.split(b" ", 2)
    if pieces[0].startswith(b"SIP/") and len(pieces) == 3:  # a response
        kind = rng.choice(["code", "reason", "version"])
        if kind == "code":
            pieces[1] = rng.choice([b"0", b"99", b"100", b"180", b"200", b"999", b"1000", b"-1", b"65536", b"abc", b"",
                                    b"2OO", b"4294967496"])
        elif kind == "reason":
            pieces[2] = rng.choice([b"", b"\xc0\x80", b"x" * 5000, b"OK\x00"])
        else:
            pieces[0] = rng.choice(VERSIONS)
        parts.start = b" ".join(pieces)
        return parts.join(), f"status line {kind}: {parts.start[:40]!r}"
    kind = rng.choice(["method", "method", "version", "uri", "uri", "spaces", "response"])
    while len(pieces) < 3:
        pieces.append(b"")
    if kind == "method":
        pieces[0] = rng.choice(METHODS)
    elif kind == "version":
        pieces[2] = rng.choice(VERSIONS)
    elif kind == "uri":
        pieces[1] = rng.choice(URIS)
    elif kind == "response":
        pieces = [b"SIP/2.0", rng.choice([b"200", b"180", b"407", b"481", b"100"]), b"OK"]
    if kind == "spaces":
        sep = rng.choice([b"  ", b"\t", b"", b" \t "])
        parts.start = sep.join(pieces)
    else:
        parts.start = b" ".join(pieces)
    return parts.join(), f"start line {kind}: {parts.start[:40]!r}"


def uri(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    found = parts.find(b"from", b"f", b"to", b"t", b"contact", b"m", b"route", b"record-route", b"refer-to", b"r")
    if not found:
        return data, "no URI header"
    i = rng.choice(found)
    new = rng.choice(URIS)
    line = parts.headers[i]
    start = line.find(b"<")
    end = line.find(b">", start + 1) if start >= 0 else -1
    if end > 0 and rng.random() < 0.7:
        line = line[:start + 1] + new + line[end:]
    else:
        name, _, rest = line.partition(b":")
        line = name + b": " + new + (b";" + rest.split(b";", 1)[1] if b";" in rest else b"")
    parts.headers[i] = line
    return parts.join(), f"URI in {header_name(line)[:16]!r}: {new[:30]!r}"


def param(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    found = parts.find(b"via", b"v", b"from", b"f", b"to", b"t", b"contact", b"m")
    if not found:
        return data, "no header with parameters"
    i = rng.choice(found)
    line = parts.headers[i]
    p = rng.choice(PARAMS)
    r = rng.random()
    if r < 0.3:  # remove the tag or branch
        line = re.sub(rb"(?i);\s*(tag|branch)=[^;,\s]*", b"", line)
        desc = "tag/branch removed"
    elif r < 0.5:  # empty every parameter value
        line = re.sub(rb"(;\s*[\w.!%*+`'~-]+=)[^;,\s>]*", rb"\1", line)
        desc = "parameter values emptied"
    else:
        line += p
        desc = f"+{p[:24]!r}"
    parts.headers[i] = line
    return parts.join(), f"{header_name(line)[:8]!r} {desc}"


def sdp(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    parts = Parts.of(data)
    if not parts.body or b"v=0" not in parts.body:
        body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        parts.headers = [h for h in parts.headers if header_name(h) not in (b"content-type", b"c")]
        parts.headers.append(b"Content-Type: application/sdp")
        parts.body = body
    body = parts.body
    kind = rng.choice(["port", "conn", "nover", "many_m", "pt", "attr", "lf", "origin", "bandwidth"])
    if kind == "port":
        body = re.sub(rb"(m=\w+ )\d+", lambda m: m.group(1) + rng.choice(NUMBERS), body, count=1)
    elif kind == "conn":
        body = re.sub(rb"c=[^\r\n]*", rng.choice([b"c=IN IP4 256.1.1.1", b"c=IN IP6 ::1", b"c=IN IP4", b"c=IN XX foo",
                                                 b"c=IN IP4 0.0.0.0", b"c=IN IP4 224.2.1.1/127/3", b"c="]), body, count=1)
    elif kind == "nover":
        body = body.replace(b"v=0\r\n", b"", 1)
    elif kind == "many_m":
        m = re.search(rb"m=[^\r\n]*\r\n", body)
        if m:
            body = body + m.group(0) * rng.choice([2, 50, 500])
    elif kind == "pt":
        body = re.sub(rb"(m=audio \S+ RTP/AVP)([^\r\n]*)",
                      lambda m: m.group(1) + rng.choice([b"", b" 128", b" -1", b" " + b" 8" * 1000, b" x"]), body, count=1)
    elif kind == "attr":
        body += rng.choice([b"a=rtpmap:\r\n", b"a=rtpmap:8 PCMA/0\r\n", b"a=fmtp:101 " + b"0-15," * 500 + b"\r\n",
                            b"a=" + b"x" * 3000 + b"\r\n", b"a=rtcp:0\r\n", b"a=ptime:-1\r\n", b"a=ptime:0\r\n"])
    elif kind == "lf":
        body = body.replace(b"\r\n", b"\n")
    elif kind == "origin":
        body = re.sub(rb"o=[^\r\n]*", b"o=- " + rng.choice(NUMBERS) + b" " + rng.choice(NUMBERS) + b" IN IP4 x", body,
                      count=1)
    else:
        body += b"b=AS:" + rng.choice(NUMBERS) + b"\r\n"
    parts.body = body
    fixed = rng.random() < 0.6
    if fixed:
        parts.headers = [h for h in parts.headers if header_name(h) not in (b"content-length", b"l")]
        parts.headers.append(b"Content-Length: %d" % len(body))
    return parts.join(), f"SDP {kind}{' (length fixed)' if fixed else ''}"


def junk(rng: random.Random, data: bytes, limit: int) -> tuple[bytes, str]:
    size = rng.choice([1, 2, 4, 16, 100, 1500, 4000])
    kind = rng.choice(["bytes", "printable", "tokens"])
    if kind == "bytes":
        out = bytes(rng.randrange(256) for _ in range(size))
    elif kind == "printable":
        out = bytes(rng.randrange(32, 127) for _ in range(size))
    else:
        words = [b"SIP/2.0", b"INVITE", b"sip:", b"\r\n", b": ", b";", b"Via", b"Content-Length: 0", b"<", b">", b"@"]
        out = b"".join(rng.choice(words) for _ in range(size))[:limit]
    return out, f"junk {kind} {len(out)} B"


MUTATORS: list[tuple[Mutator, int]] = [
    (flip, 14), (duplicate, 8), (number, 14), (huge, 6), (truncate, 8), (crlf, 8), (utf8, 8), (drop, 6),
    (rename, 5), (start_line, 6), (uri, 5), (param, 5), (sdp, 4), (junk, 2),
]


class Generator:
    """Message ``n`` of run ``seed``, from the seeds given (by default, all of them)."""

    def __init__(self, seed: int, tcp_share: float = TCP_SHARE,
                 seeds: tuple[list[Seed], list[Seed]] | None = None) -> None:
        self.seed = seed
        self.tcp_share = tcp_share
        self.devices, self.torture = seeds or load_seeds()
        self._mutators = [m for m, _ in MUTATORS]
        self._weights = [w for _, w in MUTATORS]

    def case(self, n: int) -> Case:
        rng = random.Random(f"fuzz:{self.seed}:{n}")
        transport = "TCP" if rng.random() < self.tcp_share else "UDP"
        limit = UDP_LIMIT if transport == "UDP" else 70000
        origin = rng.choice(self.devices if rng.random() < 0.5 else self.torture)
        data = tag(origin.data, n)
        mutations: list[str] = []
        count = rng.choices([0, 1, 2, 3], weights=[5, 60, 25, 10])[0]
        for _ in range(count):
            if rng.random() < 0.04:  # splice in another seed's tail
                other = rng.choice(self.devices + self.torture).data
                a, b = _pos(rng, data), _pos(rng, other)
                data = data[:a] + other[b:]
                mutations.append(f"splice @{a} + tail of another seed @{b}")
                continue
            mutate = rng.choices(self._mutators, weights=self._weights)[0]
            data, what = mutate(rng, data, limit)
            mutations.append(f"{mutate.__name__}: {what}")
        if len(data) > limit:
            data = data[:limit]
            mutations.append(f"capped at {limit}")
        return Case(n, origin.name, transport, tuple(mutations), data)
