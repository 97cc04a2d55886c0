"""The edge between browser phones and the call core (issue 16, "Browser phone").

A phone on a WebSocket flow (RFC 7118) is a browser, and a browser's media is WebRTC: ICE,
DTLS-SRTP, rtcp-mux (sdp/webrtc.py).  The call core speaks plain RTP/AVP whatever the leg, so
the descriptions are converted here, where messages cross the edge:

* a message *from* a browser with a WebRTC description (an INVITE, a re-INVITE, an ACK, a
  response to the switch's INVITE) has its body made plain before the core reads it; the
  browser's fingerprint, mid and bundle group are kept under the dialog's Call-ID and the
  flow it came on;
* a message *to* a browser carrying a description (a response, a request) has its body made
  WebRTC: the relay port it names says which leg of the call the browser is on, and that leg
  of the media session becomes a WebRTC leg (media/webrtc_leg.py) with the browser's
  fingerprint, once known.  The switch's ICE credentials are the leg's for the whole call.

The same for every feature: the core never sees a browser's SDP, and what it makes for a
leg (bridged, a prompt's answer, a transfer's re-INVITE) reaches the browser in its terms.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from ..media.endpoint import MediaEndpoint
from ..media.webrtc import identity
from ..sdp.model import SessionDescription, parse_sdp
from ..sdp.offer_answer import relayed_stream
from ..sdp.webrtc import BrowserDtls, browser_dtls, is_webrtc, to_plain, to_webrtc
from ..sip.errors import RemoteProtocolError
from ..sip.message import Request, Response
from ..sip.transaction import Target
from .actions import MediaPorts

log = logging.getLogger(__name__)

BROWSER_TRANSPORTS = ("WS", "WSS")
REMEMBERED = 10000  # browsers' dialogs remembered at most (the oldest forgotten first)

Key = tuple[str, int | None]  # (the dialog's Call-ID, the browser's flow)


def is_browser(target: Target) -> bool:
    return target.transport in BROWSER_TRANSPORTS


def _has_sdp(message: Request | Response) -> bool:
    return bool(message.body) and (message.get("Content-Type") or "").split(";")[0].strip().lower() == "application/sdp"


class Browsers:
    def __init__(self, media: MediaEndpoint) -> None:
        self.media = media
        self.dtls: OrderedDict[Key, BrowserDtls] = OrderedDict()  # what each browser's description said
        self.legs: dict[Key, tuple[str, str]] = {}  # (media session, leg) each browser's dialog is on

    def inbound(self, message: Request | Response, source: Target) -> None:
        """A message from ``source``: a browser's WebRTC description made plain."""
        if not is_browser(source) or not _has_sdp(message):
            return
        try:
            sdp = parse_sdp(message.body)
        except RemoteProtocolError:
            return  # the core answers it as any malformed description
        if not is_webrtc(sdp):
            return
        key = (message.call_id, source.conn_id)
        dtls = self.dtls[key] = browser_dtls(sdp)
        self.dtls.move_to_end(key)
        while len(self.dtls) > REMEMBERED:
            old, _ = self.dtls.popitem(last=False)
            self.legs.pop(old, None)
        on = self.legs.get(key)
        if on is not None:
            self.media.webrtc(*on, dtls.fingerprint)
        self._body(message, bytes(to_plain(sdp)))

    def outbound(self, message: Request | Response, target: Target, session_id: str, media: MediaPorts) -> None:
        """A message to ``target``: the switch's description made WebRTC for a browser.  To
        another phone, an answer the switch gives (a 2xx, an ACK) puts that phone on the leg
        its description names: a leg a browser had (a pick-up, say) is plain again."""
        if not _has_sdp(message):
            return
        if not is_browser(target):
            if isinstance(message, Response) and 200 <= message.status < 300 or \
                    isinstance(message, Request) and message.method == "ACK":
                self._plain(message, session_id, media)
            return
        sdp = parse_sdp(message.body)  # the switch's own: well formed
        leg = self._leg(sdp, media)
        if leg is None:
            return
        key = (message.call_id, target.conn_id)
        dtls = self.dtls.get(key)
        ice = self.media.webrtc(session_id, leg, dtls.fingerprint if dtls is not None else None)
        if ice is None:
            return
        self.legs[key] = (session_id, leg)
        offer = isinstance(message, Request) and message.method in ("INVITE", "UPDATE")
        self._body(message, bytes(to_webrtc(sdp, ice.ufrag, ice.password, identity().fingerprint, offer=offer,
                                            browser=dtls)))

    def answered(self, request: Request, response: Response, target: Target, session_id: str, media: MediaPorts) -> None:
        """A phone that is not a browser accepted the switch's offer (a transfer's target, the
        desk phone of a simultaneous ring that answered first): it is the phone on the leg the
        offer named, so a browser that had that leg has it no more."""
        if 200 <= response.status < 300 and not is_browser(target) and _has_sdp(request):
            self._plain(request, session_id, media)

    def _plain(self, message: Request | Response, session_id: str, media: MediaPorts) -> None:
        legs = self.media.browser_legs(session_id)
        if not legs:
            return  # the common case: no browser in the call
        leg = self._leg(parse_sdp(message.body), media)
        if leg not in legs:
            return
        self.media.plain(session_id, leg)
        for key in [k for k, on in self.legs.items() if on == (session_id, leg)]:
            del self.legs[key]

    @staticmethod
    def _leg(sdp: SessionDescription, media: MediaPorts) -> str | None:
        """The leg of the call whose relay port the switch's own description names."""
        index = relayed_stream(sdp)
        port = sdp.media[index].line.port if index is not None else None
        return "a" if port == media.a.rtp else "b" if port == media.b.rtp else None

    def forget(self, session_id: str) -> None:
        """The call ended: its browsers' dialogs are forgotten."""
        for key in [k for k, (sid, _) in self.legs.items() if sid == session_id]:
            del self.legs[key]
            self.dtls.pop(key, None)

    @staticmethod
    def _body(message: Request | Response, body: bytes) -> None:
        message.body = body
        message.set("Content-Length", str(len(body)))
