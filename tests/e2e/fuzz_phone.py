"""Two phones in a call through the switch, for the fuzz run: registered with digest, the call
set up with SDP, then G.711 RTP every 20 ms both ways from a thread while requests the switch
sends inside the call are answered.  Plain sockets and just enough SIP; no SIPp, so the fuzz
run needs nothing installed and the call lasts as long as the run does.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported"}
RTP_INTERVAL = 0.02
PCMA_SILENCE = b"\xd5" * 160


@dataclass
class Msg:
    start: str
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> Msg:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((COMPACT.get(name, name), value.strip()))
        return cls(lines[0], headers, body)

    @property
    def status(self) -> int | None:
        parts = self.start.split(" ", 2)
        return int(parts[1]) if parts[0] == "SIP/2.0" and len(parts) > 1 and parts[1].isdigit() else None

    @property
    def method(self) -> str:
        return "" if self.status is not None else self.start.split(" ", 1)[0]

    def get(self, name: str) -> str:
        return next((v for n, v in self.headers if n == name), "")

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """The Authorization value answering ``challenge`` (RFC 2617/7616, MD5, qop=auth if offered)."""
    params = {k.lower(): a or b for k, a, b in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', challenge)}
    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"{method}:{uri}")
    out = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
    if "qop" in params:
        cnonce, nc = "0a4f113b", "00000001"
        out += f', qop=auth, nc={nc}, cnonce="{cnonce}", response="{_md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")}"'
    else:
        out += f', response="{_md5(f"{ha1}:{nonce}:{ha2}")}"'
    if "opaque" in params:
        out += f', opaque="{params["opaque"]}"'
    return out


def media_of(body: bytes) -> tuple[str, int] | None:
    text = body.decode("latin-1")
    c = re.search(r"c=IN IP4 (\S+)", text)
    m = re.search(r"m=audio (\d+)", text)
    return (c.group(1), int(m.group(1))) if c and m else None


def uri_of(value: str) -> str:
    m = re.search(r"<([^>]*)>", value)
    return m.group(1) if m else value.split(";", 1)[0].strip()


@dataclass
class Phone:
    """One extension on ``host``; ``register``, then ``call`` (caller) or ``answer`` (callee)."""

    ext: str
    password: str
    host: str
    switch: tuple[str, int]
    domain: str = "acme.example"
    rtp_sent: int = 0
    rtp_received: int = 0
    last_rtp_at: float = 0.0
    bye_received: bool = False
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((self.host, 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((self.host, 0))
        self.port = self.sip.getsockname()[1]
        self.rtp_port = self.rtp.getsockname()[1]
        self.tag = f"ph{self.ext}x{self.port}"
        self._branches = itertools.count(1)
        self.cseq = 1
        self.call_id = ""
        self.incoming = ""  # the Call-ID of the call this phone answered
        self.remote_tag = ""
        self.remote_target = ""
        self.route: list[str] = []
        self.media: tuple[str, int] | None = None
        self._answer: bytes | None = None  # our 200 to INVITE, sent again until the ACK
        self._answer_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0

    # --- SIP ----------------------------------------------------------------------------
    def branch(self) -> str:
        return f"z9hG4bKph{self.ext}{self.port}n{next(self._branches)}"

    def sdp(self) -> bytes:
        return (f"v=0\r\no=fuzz 1 1 IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\nt=0 0\r\n"
                f"m=audio {self.rtp_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                "a=fmtp:101 0-15\r\na=sendrecv\r\n").encode()

    def request(self, method: str, uri: str, to: str, *, cseq: int, branch: str, extra: str = "",
                body: bytes = b"", cseq_method: str | None = None) -> bytes:
        head = (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:{self.ext}@{self.domain}>;tag={self.tag}\r\nTo: {to}\r\n"
                f"Call-ID: {self.call_id}\r\nCSeq: {cseq} {cseq_method or method}\r\n"
                f"Contact: <sip:{self.ext}@{self.host}:{self.port}>\r\nUser-Agent: fuzz-phone\r\n"
                + "".join(f"Route: {r}\r\n" for r in self.route) + extra
                + (f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n" if body else "Content-Length: 0\r\n\r\n"))
        return head.encode() + body

    def response(self, req: Msg, status: int, reason: str, body: bytes = b"") -> bytes:
        to = req.get("to")
        if ";tag=" not in to:
            to += f";tag={self.tag}"
        head = (f"SIP/2.0 {status} {reason}\r\n" + "".join(f"Via: {v}\r\n" for v in req.all("via"))
                + f"From: {req.get('from')}\r\nTo: {to}\r\nCall-ID: {req.get('call-id')}\r\nCSeq: {req.get('cseq')}\r\n"
                f"Contact: <sip:{self.ext}@{self.host}:{self.port}>\r\nUser-Agent: fuzz-phone\r\n"
                + (f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n" if body else "Content-Length: 0\r\n\r\n"))
        return head.encode() + body

    def _send(self, data: bytes) -> None:
        self.sip.sendto(data, self.switch)

    def transact(self, data: bytes, timeout: float = 8.0) -> Msg:
        """Send a request (again every 500 ms) until a final response; provisionals are skipped."""
        branch = Msg.parse(data).get("via").split("branch=", 1)[1].split(";", 1)[0]
        deadline = time.monotonic() + timeout
        self._send(data)
        resend = time.monotonic() + 0.5
        provisional = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sip], [], [], 0.05)
            if ready:
                msg = Msg.parse(self.sip.recv(65535))
                if msg.status is None or branch not in msg.get("via"):
                    continue
                if msg.status >= 200:
                    return msg
                provisional = True
            if not provisional and time.monotonic() > resend:
                self._send(data)
                resend = time.monotonic() + 0.5
        raise RuntimeError(f"{self.ext}: no final response to {data.split(b' ', 1)[0].decode()}")

    def register(self) -> None:
        self.call_id = f"reg-{self.ext}-{self.port}"
        uri, to = f"sip:{self.domain}", f"<sip:{self.ext}@{self.domain}>"
        first = self.transact(self.request("REGISTER", uri, to, cseq=1, branch=self.branch(), extra="Expires: 3600\r\n"))
        if first.status == 401:
            auth = digest(first.get("www-authenticate"), "REGISTER", uri, self.ext, self.password)
            first = self.transact(self.request("REGISTER", uri, to, cseq=2, branch=self.branch(),
                                               extra=f"Expires: 3600\r\nAuthorization: {auth}\r\n"))
        if first.status != 200:
            raise RuntimeError(f"{self.ext}: REGISTER got {first.start}")

    def call(self, number: str) -> None:
        """INVITE ``number``, answer the 407, ACK the 200; the call is then up and RTP starts."""
        self.call_id = f"call-{self.ext}-{self.port}"
        uri, to = f"sip:{number}@{self.domain}", f"<sip:{number}@{self.domain}>"
        branch = self.branch()
        final = self.transact(self.request("INVITE", uri, to, cseq=1, branch=branch, body=self.sdp()))
        if final.status == 407:
            self._send(self.request("ACK", uri, final.get("to"), cseq=1, branch=branch))
            auth = digest(final.get("proxy-authenticate"), "INVITE", uri, self.ext, self.password)
            final = self.transact(self.request("INVITE", uri, to, cseq=2, branch=self.branch(), body=self.sdp(),
                                               extra=f"Proxy-Authorization: {auth}\r\n"), timeout=15)
        if final.status != 200:
            raise RuntimeError(f"{self.ext}: INVITE got {final.start}")
        self.cseq = 2
        self.remote_tag = final.get("to").split("tag=", 1)[1].split(";", 1)[0]
        self.remote_target = uri_of(final.get("contact"))
        self.route = list(reversed(final.all("record-route")))
        self._to = final.get("to")
        self._send(self.request("ACK", self.remote_target, self._to, cseq=2, branch=self.branch()))
        self.media = media_of(final.body)
        self.start()

    def answer(self) -> None:
        """Wait (in the thread) for an INVITE and answer it."""
        self.start()

    def hang_up(self) -> int | None:
        """BYE from the caller; the status it got."""
        self.stop()
        self.cseq += 1
        try:
            reply = self.transact(self.request("BYE", self.remote_target, self._to, cseq=self.cseq, branch=self.branch()))
        except RuntimeError:
            return None
        return reply.status

    # --- the thread: requests inside the call, and RTP -------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"phone-{self.ext}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._stop.clear()

    def close(self) -> None:
        self.stop()
        self.sip.close()
        self.rtp.close()

    def _run(self) -> None:
        ssrc = 0x5EED0000 + int(self.ext)
        next_rtp = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            wait = max(0.0, min(next_rtp - now, 0.05)) if self.media else 0.05
            try:
                ready, _, _ = select.select([self.sip, self.rtp], [], [], wait)
                if self.rtp in ready:
                    self.rtp.recv(2048)
                    self.rtp_received += 1
                    self.last_rtp_at = time.monotonic()
                if self.sip in ready:
                    self._on_sip(Msg.parse(self.sip.recv(65535)))
                now = time.monotonic()
                if self._answer is not None and now > self._answer_at:
                    self._send(self._answer)
                    self._answer_at = now + 0.5
                if self.media and now >= next_rtp:
                    self._seq += 1
                    header = struct.pack("!BBHII", 0x80, 8, self._seq & 0xFFFF, (self._seq * 160) & 0xFFFFFFFF, ssrc)
                    self.rtp.sendto(header + PCMA_SILENCE, self.media)
                    self.rtp_sent += 1
                    next_rtp = max(next_rtp + RTP_INTERVAL, now - 0.2)
            except Exception as exc:  # keep the call alive; report what went wrong
                self.errors.append(repr(exc))

    def _on_sip(self, msg: Msg) -> None:
        if msg.status is not None:
            if msg.status == 200 and msg.get("cseq").endswith("INVITE") and self.remote_target:
                self._send(self.request("ACK", self.remote_target, self._to, cseq=self.cseq, branch=self.branch()))
            return
        method = msg.method
        self.requests.append(method)
        if method == "ACK":
            self._answer = None
        elif method == "INVITE":
            media = media_of(msg.body)
            if media:
                self.media = media
            if not self.incoming:  # the call to this phone
                self.incoming = msg.get("call-id")
                self._send(self.response(msg, 180, "Ringing"))
            self._answer = self.response(msg, 200, "OK", self.sdp())
            self._answer_at = 0.0
        elif method == "BYE":
            self.bye_received = True
            self._send(self.response(msg, 200, "OK"))
        elif method == "CANCEL":
            self._send(self.response(msg, 200, "OK"))
        else:
            self._send(self.response(msg, 200, "OK"))
