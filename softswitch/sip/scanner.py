"""A tiny lexical scanner for RFC 3261 §25 header grammar.

Header values arrive unfolded (line folding replaced by a single space), so
LWS here is just spaces and tabs.  Every method raises ``RemoteProtocolError``
with the header name and position when the grammar is broken.
"""

from __future__ import annotations

import re

from .errors import RemoteProtocolError

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
WS = " \t"


class Scanner:
    __slots__ = ("text", "pos", "what")

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.what = what

    def error(self, message: str) -> RemoteProtocolError:
        return RemoteProtocolError(f"{self.what}: {message} at column {self.pos + 1} in {self.text!r}")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in WS:
            pos += 1
        self.pos = pos

    def accept(self, char: str) -> bool:
        """Consume ``char`` (with LWS on either side) if it is next."""
        self.skip_ws()
        if self.peek() == char:
            self.pos += 1
            self.skip_ws()
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.accept(char):
            found = self.peek() or "end of value"
            raise self.error(f"expected {char!r}, found {found!r}")

    def token(self, extra: str = "") -> str:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and (text[pos] in TOKEN_CHARS or text[pos] in extra):
            pos += 1
        if pos == start:
            found = self.peek() or "end of value"
            raise self.error(f"expected a token, found {found!r}")
        self.pos = pos
        return text[start:pos]

    def quoted_string(self) -> str:
        """Parse ``"..."`` with quoted-pairs; returns the unescaped content."""
        if self.peek() != '"':
            raise self.error("expected '\"'")
        text = self.text
        pos = self.pos + 1
        out: list[str] = []
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                self.pos = pos + 1
                return "".join(out)
            if ch == "\\":
                if pos + 1 >= len(text):
                    break
                out.append(text[pos + 1])
                pos += 2
                continue
            out.append(ch)
            pos += 1
        self.pos = len(text)
        raise self.error("unterminated quoted string")

    def until(self, stops: str) -> str:
        """Everything up to (not including) the first character in ``stops``."""
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] not in stops:
            pos += 1
        self.pos = pos
        return text[start:pos]

    def params(self, what: str) -> list[tuple[str, str | None]]:
        """``*( SEMI generic-param )`` where generic-param = token [ EQUAL gen-value ]."""
        out: list[tuple[str, str | None]] = []
        while self.accept(";"):
            if self.at_end() or self.peek() in ";,":
                raise self.error(f"empty {what} parameter")
            name = self.token("[]:")
            value: str | None = None
            if self.accept("="):
                if self.peek() == '"':
                    value = '"' + self.quoted_string().replace("\\", "\\\\").replace('"', '\\"') + '"'
                else:
                    value = self.token("[]:")
            out.append((name, value))
            self.skip_ws()
        return out


def quote(text: str) -> str:
    """Render ``text`` as a quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None
