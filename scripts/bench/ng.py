"""A small blocking client of rtpengine's ng control protocol (bencoded dictionaries over UDP,
the switch's own codec), enough to open a relayed call (``offer`` then ``answer``), close it and
ping the daemon."""

from __future__ import annotations

import re
import socket
import uuid
from typing import Any

from softswitch.media.ng import decode, encode


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
