"""A small client of rtpengine's ng control protocol (bencoded dictionaries over UDP), enough
to open a relayed call (``offer`` then ``answer``), close it and ping the daemon."""

from __future__ import annotations

import re
import socket
import uuid
from typing import Any

Value = bytes | int | list[Any] | dict[bytes, Any]


def encode(value: Any) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, list):
        return b"l" + b"".join(encode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(encode(k) + encode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> Value:
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after the bencoded value")
    return value


def _decode(data: bytes, at: int) -> tuple[Value, int]:
    kind = data[at:at + 1]
    if kind == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1:end]), end + 1
    if kind in (b"l", b"d"):
        items: list[Any] = []
        at += 1
        while data[at:at + 1] != b"e":
            item, at = _decode(data, at)
            items.append(item)
        if kind == b"l":
            return items, at + 1
        return dict(zip(items[::2], items[1::2], strict=True)), at + 1
    colon = data.index(b":", at)
    size = int(data[at:colon])
    return data[colon + 1:colon + 1 + size], colon + 1 + size


def _sdp(address: tuple[str, int], session: int) -> str:
    host, port = address
    return (f"v=0\r\no=- {session} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")


def _audio_port(sdp: bytes) -> int:
    found = re.search(rb"^m=audio (\d+) ", sdp, re.MULTILINE)
    if found is None:
        raise ValueError("no audio stream in rtpengine's SDP")
    return int(found.group(1))


class NgClient:
    def __init__(self, address: tuple[str, int], timeout: float = 2.0) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)

    def command(self, **fields: Any) -> dict[bytes, Any]:
        cookie = uuid.uuid4().hex.encode()
        self.sock.sendto(cookie + b" " + encode(fields), self.address)
        while True:
            data, _ = self.sock.recvfrom(65535)
            got, _, body = data.partition(b" ")
            if got == cookie:
                reply = decode(body)
                if not isinstance(reply, dict) or reply.get(b"result") not in (b"ok", b"pong"):
                    raise RuntimeError(f"rtpengine {fields.get('command')}: {reply!r}")
                return reply

    def ping(self) -> bool:
        try:
            return bool(self.command(command="ping")[b"result"] == b"pong")
        except OSError:
            return False

    def relay(self, call_id: str, caller: tuple[str, int], callee: tuple[str, int]) -> tuple[int, int]:
        """Open a call; return (the port the caller sends to, the port the callee sends to)."""
        offer = self.command(command="offer", **{"call-id": call_id, "from-tag": "a", "sdp": _sdp(caller, 1)})
        answer = self.command(command="answer", **{"call-id": call_id, "from-tag": "a", "to-tag": "b", "sdp": _sdp(callee, 2)})
        return _audio_port(answer[b"sdp"]), _audio_port(offer[b"sdp"])

    def delete(self, call_id: str) -> None:
        self.command(command="delete", **{"call-id": call_id, "from-tag": "a"})
