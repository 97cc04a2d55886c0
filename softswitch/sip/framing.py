"""Message framing on stream transports (RFC 3261 §18.3, RFC 5626 §3.5.1).

Pure: bytes in, frames out.  A message is its header section plus exactly
Content-Length octets (required on streams).  A double CRLF between messages
is a keep-alive ping and is reported so the connection can answer with a
single CRLF pong; a lone CRLF is a pong and is skipped.  A missing, negative,
non-numeric, conflicting or oversized Content-Length, or a header section
longer than the size cap, is unrecoverable: the connection must be closed (after a
``513`` to a request whose Content-Length alone was too large: ``TooLarge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import RemoteProtocolError


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A CRLFCRLF keep-alive; answer with one CRLF."""


StreamEvent = Union[Frame, Ping]


class TooLarge(RemoteProtocolError):
    """A message whose Content-Length takes it past the size cap: its header section came
    whole (``head``), so a request can still be answered ``513`` before the connection closes."""

    def __init__(self, reason: str, head: bytes, size: int) -> None:
        super().__init__(reason, 513)
        self.head, self.size = head, size


def _content_length(head: bytes) -> int:
    values = set()
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l") and not line[:1].isspace():
            values.add(value.strip())
    if not values:
        raise RemoteProtocolError("Content-Length is required on a stream transport")
    if len(values) > 1:
        raise RemoteProtocolError("conflicting Content-Length values")
    text = values.pop()
    if not text.isdigit() or len(text) > 9:
        raise RemoteProtocolError(f"bad Content-Length {text[:20]!r}")
    return int(text)


class StreamFramer:
    def __init__(self, max_size: int = 65535) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        # The message being received: its size once its header section is in (read once, not
        # at every segment of its body), and how far its header was searched for its end: a
        # peer sending a long header, or a body, a few octets at a time costs little each time.
        self._total: int | None = None
        self._searched = 0

    @property
    def pending(self) -> bool:
        """True while part of a message has arrived and the rest has not."""
        return bool(self._buf)

    def feed(self, data: bytes) -> list[StreamEvent]:
        self._buf += data
        out: list[StreamEvent] = []
        buf = self._buf
        while buf:
            total = self._total
            if total is None:
                if not self._searched and buf.startswith(b"\r\n\r\n"):
                    del buf[:4]
                    out.append(Ping())
                    continue
                if not self._searched and buf.startswith(b"\r\n"):
                    if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                        break  # maybe the start of a ping
                    del buf[:2]
                    continue
                end = buf.find(b"\r\n\r\n", max(0, self._searched - 3))
                if end < 0:
                    if len(buf) > self.max_size:
                        raise RemoteProtocolError(f"header section longer than {self.max_size} octets")
                    self._searched = len(buf)
                    break
                total = end + 4 + _content_length(bytes(buf[:end]))
                if total > self.max_size:
                    raise TooLarge(f"message of {total} octets exceeds the {self.max_size}-octet limit",
                                   bytes(buf[:end + 4]), total)
                self._total = total
            if len(buf) < total:
                break
            out.append(Frame(bytes(buf[:total])))
            del buf[:total]
            self._total, self._searched = None, 0
        return out
