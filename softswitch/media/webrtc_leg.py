"""A browser's leg of a relayed call: its one port (rtcp-mux) carrying STUN, DTLS and SRTP.

``WebRtcLeg.received`` takes every datagram of the leg's RTP socket: a connectivity check is
answered (and its address becomes where the browser is: the relay leg is told, as if its SDP
had said so), DTLS goes to the handshake (its answers back to the browser, its flights sent
again on their timer), and SRTP/SRTCP comes back as plain RTP/RTCP for the relay, or None.
``WebRtcLeg.sender`` stands in for the leg's socket wherever the switch sends to the browser
(the relay, prompts and music, a supervisor's mix): it protects each packet and sends it to
the address ICE found, RTCP included (muxed), and drops what comes before the keys.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from .relay import Address
from .webrtc import DtlsSrtp, IceLite, kind

log = logging.getLogger(__name__)


class SrtpSender:
    """The browser's leg's socket as the senders see it: ``sendto`` protects."""

    def __init__(self, leg: WebRtcLeg) -> None:
        self.leg = leg

    def sendto(self, data: bytes, _destination: Any = None) -> int:
        peer, dtls = self.leg.peer, self.leg.dtls
        if peer is None:
            return 0
        protected = dtls.protect(data)
        if protected is None:
            return 0
        return self.leg.sock.sendto(protected, peer)

    def fileno(self) -> int:
        return self.leg.sock.fileno()


class WebRtcLeg:
    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, remote_fingerprint: str | None) -> None:
        self.sock = sock
        self.loop = loop
        self.ice = IceLite()
        self.dtls = DtlsSrtp(remote_fingerprint)
        self.peer: Address | None = None  # where ICE found the browser
        self.sender = SrtpSender(self)
        self.dropped = 0  # SRTP that did not unprotect, DTLS or STUN not for us
        self._timer: asyncio.TimerHandle | None = None

    def received(self, data: bytes, source: Address) -> tuple[bytes, bool] | None:
        """(plain packet, is RTCP) for the relay, or None (handled here, or dropped)."""
        what = kind(data)
        if what in ("rtp", "rtcp"):
            if source != self.peer:
                self.dropped += 1
                return None
            plain = self.dtls.unprotect(data)
            if plain is None:
                self.dropped += 1
                return None
            return plain, what == "rtcp"
        if what == "stun":
            answer = self.ice.answer(data, source)
            if answer is None:
                self.dropped += 1
                return None
            self._send(answer, source)
            if self.peer != source:
                log.info("webrtc: the browser is at %s:%s (ICE)", *source)
                self.peer = source
        elif what == "dtls" and source == self.peer:
            for datagram in self.dtls.feed(data):
                self._send(datagram, source)
            if self.dtls.failed:
                log.warning("webrtc: %s (%s:%s)", self.dtls.failed, *source)
            self._arm()
        else:
            self.dropped += 1
        return None

    def _send(self, data: bytes, to: Address) -> None:
        try:
            self.sock.sendto(data, to)
        except OSError as exc:
            log.info("webrtc: sending to %s:%s failed: %s", *to, exc)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        wait = self.dtls.timeout()
        if wait is not None:
            self._timer = self.loop.call_later(max(wait, 0.01), self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self.peer is not None:
            for datagram in self.dtls.expired():
                self._send(datagram, self.peer)
        self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
