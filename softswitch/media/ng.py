"""rtpengine's control protocol ("ng"): bencoded dictionaries over UDP.

A request is a cookie, a space and a bencoded dictionary (``{"command": "offer",
"call-id": ..., "from-tag": ..., "sdp": ...}``); the answer repeats the cookie and
carries ``result`` (``ok``, ``pong``, ``error`` with ``error-reason``) and what the
command returns (an offer's rewritten ``sdp``, a delete's ``totals``).  UDP loses
datagrams, so a request unanswered within ``timeout`` is sent again with the same
cookie (rtpengine answers a repeated cookie from its cache without doing it twice),
``attempts`` times in all.

``encode``/``decode`` are pure; ``NgClient`` is the asyncio edge.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any, cast

log = logging.getLogger(__name__)

Value = Any  # bytes | int | list[Value] | dict[bytes, Value]


class NgError(Exception):
    """rtpengine refused a request (``error-reason``), sent garbage, or did not answer."""


# --- bencode (BEP 3) -----------------------------------------------------------------
def encode(value: Value) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Value, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, (bytes, str)):
        raw = value.encode() if isinstance(value, str) else value
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, (list, tuple)):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        out.append(b"d")
        keys = {(k.encode() if isinstance(k, str) else k): v for k, v in value.items()}
        for key in sorted(keys):
            _encode(key, out)
            _encode(keys[key], out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> Value:
    """The value ``data`` holds, strings as ``bytes``; ``ValueError`` for anything else
    (truncated, trailing bytes, leading zeros, nesting deeper than 64)."""
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the value")
    return value


def _decode(data: bytes, at: int, depth: int) -> tuple[Value, int]:
    if depth > 64:
        raise ValueError("nested too deep")
    if at >= len(data):
        raise ValueError("truncated")
    head = data[at:at + 1]
    if head == b"i":
        end = data.index(b"e", at)
        text = data[at + 1:end]
        if not text or text == b"-0" or (text.lstrip(b"-").startswith(b"0") and text.lstrip(b"-") != b"0") \
                or not text.lstrip(b"-").isdigit():
            raise ValueError(f"bad integer {text[:20]!r}")
        return int(text), end + 1
    if head == b"l" or head == b"d":
        items: list[Value] = []
        at += 1
        while True:
            if at >= len(data):
                raise ValueError("truncated")
            if data[at:at + 1] == b"e":
                break
            item, at = _decode(data, at, depth + 1)
            items.append(item)
        if head == b"l":
            return items, at + 1
        if len(items) % 2 or not all(isinstance(k, bytes) for k in items[::2]):
            raise ValueError("a dictionary's keys must be strings, each with a value")
        return dict(zip(items[::2], items[1::2], strict=True)), at + 1
    if head.isdigit():
        colon = data.index(b":", at)
        length = data[at:colon]
        if not length.isdigit() or (length.startswith(b"0") and length != b"0"):
            raise ValueError(f"bad string length {length[:20]!r}")
        end = colon + 1 + int(length)
        if end > len(data):
            raise ValueError("truncated")
        return data[colon + 1:end], end
    raise ValueError(f"unexpected byte {head!r} at {at}")


def text(value: Value) -> Value:
    """A decoded answer with its strings as ``str`` (rtpengine writes UTF-8)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [text(v) for v in value]
    if isinstance(value, dict):
        return {k.decode("utf-8", "replace"): text(v) for k, v in value.items()}
    return value


# --- the client ------------------------------------------------------------------------
class NgClient(asyncio.DatagramProtocol):
    """Requests to one rtpengine, each awaited for its answer."""

    def __init__(self, host: str, port: int, *, timeout: float = 1.0, attempts: int = 3) -> None:
        self.address = (host, port)
        self.timeout, self.attempts = timeout, attempts
        self.transport: asyncio.DatagramTransport | None = None
        self._pending: dict[bytes, asyncio.Future[dict[str, Any]]] = {}
        self._prefix = os.urandom(4).hex().encode()
        self._numbers = itertools.count(1)
        self.counters = {"requests": 0, "retransmitted": 0, "errors": 0, "timeouts": 0, "stray": 0}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, remote_addr=self.address)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NgError("closed"))
        self._pending.clear()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        cookie, _, body = data.partition(b" ")
        future = self._pending.get(cookie)
        if future is None or future.done():
            self.counters["stray"] += 1  # an answer to a request given up on, or repeated
            return
        try:
            answer = decode(body)
            if not isinstance(answer, dict):
                raise ValueError("not a dictionary")
        except ValueError as exc:
            future.set_exception(NgError(f"rtpengine sent an unreadable answer: {exc}"))
            return
        future.set_result(text(answer))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: rtpengine not running
        log.debug("rtpengine at %s:%s: %s", *self.address, exc)

    async def request(self, command: str, **fields: Value) -> dict[str, Any]:
        """Send ``command`` with ``fields`` (keys written with dashes: ``from_tag`` is
        ``from-tag``); the answer, or ``NgError``."""
        if self.transport is None:
            raise NgError("not connected to rtpengine")
        cookie = b"%s_%d" % (self._prefix, next(self._numbers))
        payload = {"command": command, **{k.replace("_", "-"): v for k, v in fields.items()}}
        datagram = cookie + b" " + encode(payload)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[cookie] = future
        self.counters["requests"] += 1
        try:
            for attempt in range(self.attempts):
                if self.transport is None:
                    raise NgError("not connected to rtpengine")
                if attempt:
                    self.counters["retransmitted"] += 1
                self.transport.sendto(datagram)
                try:
                    answer = await asyncio.wait_for(asyncio.shield(future), self.timeout)
                    break
                except TimeoutError:
                    continue
            else:
                self.counters["timeouts"] += 1
                raise NgError(f"rtpengine at {self.address[0]}:{self.address[1]} did not answer {command!r}")
        finally:
            self._pending.pop(cookie, None)
        if answer.get("result") not in ("ok", "pong"):
            self.counters["errors"] += 1
            raise NgError(f"rtpengine refused {command!r}: {answer.get('error-reason', answer.get('result'))}")
        return answer
