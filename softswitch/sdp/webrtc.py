"""SDP between a browser (WebRTC: ICE, DTLS-SRTP, rtcp-mux) and the rest of the switch (plain
RTP/AVP), in both directions of offer/answer (RFC 8829 JSEP, RFC 5763, RFC 8445 §2.5).

The call core speaks plain RTP/AVP with G.711 and telephone-event, whatever the leg.  At the
edge, what a browser sends is made plain (``to_plain``: ``UDP/TLS/RTP/SAVPF`` becomes
``RTP/AVP``, its ICE, DTLS, bundling and feedback attributes go, its address becomes where
ICE will find it, so ``0.0.0.0`` until then) after its DTLS parameters are read
(``browser_dtls``); and what goes to a browser is made WebRTC (``to_webrtc``): the same
stream on the same relay port, as ``UDP/TLS/RTP/SAVPF`` with the switch's ICE-lite
credentials and single host candidate (the relay port), the switch's certificate fingerprint,
``a=setup`` (``actpass`` in an offer, ``passive`` in an answer: the switch is always the DTLS
server), ``a=rtcp-mux`` and the ``a=mid`` and bundle group the browser used.
Pure: descriptions in, descriptions out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Connection, SessionDescription
from .offer_answer import ICE_ATTRIBUTES, relayed_stream

PROTO = "UDP/TLS/RTP/SAVPF"
# What only the browser's end of the stream means: gone before the plain side sees it.
BROWSER_ONLY = (*ICE_ATTRIBUTES, "fingerprint", "setup", "rtcp-mux", "rtcp-rsize", "rtcp-fb", "extmap", "ssrc",
                "ssrc-group", "msid", "mid", "crypto", "rtcp", "extmap-allow-mixed")
SESSION_ONLY = ("group", "msid-semantic", "ice-lite", "ice-options", "fingerprint", "setup", "extmap-allow-mixed")


@dataclass(frozen=True, slots=True)
class BrowserDtls:
    """What a browser's description says of its end: its certificate's fingerprint, its DTLS
    role (``a=setup``), and the stream's ``mid`` and bundle group (mirrored in an answer)."""

    fingerprint: str | None
    setup: str
    mid: str | None
    bundle: str | None


def is_webrtc(sdp: SessionDescription) -> bool:
    """Whether the relayed stream is DTLS-SRTP (what browsers send)."""
    index = relayed_stream(sdp)
    return index is not None and sdp.media[index].line.proto.upper() == PROTO


def browser_dtls(sdp: SessionDescription) -> BrowserDtls:
    index = relayed_stream(sdp)
    media = sdp.media[index] if index is not None else None

    def attr(name: str) -> str | None:
        found = media.attribute(name) if media is not None else None
        return found if found is not None else sdp.attribute(name)

    group = sdp.attribute("group")
    return BrowserDtls(attr("fingerprint"), (attr("setup") or "actpass").strip().lower(),
                       media.attribute("mid") if media is not None else None,
                       group if group is not None and group.startswith("BUNDLE") else None)


def to_plain(sdp: SessionDescription) -> SessionDescription:
    """A browser's description as the plain side must see it: RTP/AVP, no ICE, DTLS, mux,
    bundling or feedback, and no address yet (ICE tells where the browser is)."""
    out = sdp.copy()
    out.remove_attributes(*SESSION_ONLY)
    unknown = Connection("0.0.0.0")
    out.set_connection(unknown)
    for media in out.media:
        line = media.line
        if line.proto.upper() == PROTO:
            media.line = type(line)(line.media, line.port, "RTP/AVP", line.formats, line.port_count)
        media.remove_attributes(*BROWSER_ONLY)
        if media.connection is not None:
            media.set_connection(unknown)
    return out


def to_webrtc(sdp: SessionDescription, ufrag: str, password: str, fingerprint: str, *, offer: bool,
              browser: BrowserDtls | None = None) -> SessionDescription:
    """``sdp`` (the switch's, naming the browser's relay port) as a browser must get it."""
    out = sdp.copy()
    out.remove_attributes(*SESSION_ONLY)
    mid = (browser.mid if browser is not None else None) or "0"
    if offer or (browser is not None and browser.bundle is not None):
        out.set_attribute("group", f"BUNDLE {mid}")
    out.set_attribute("ice-lite", None)
    out.set_attribute("msid-semantic", " WMS")
    index = relayed_stream(out)
    connection = out.media_connection(out.media[index]) if index is not None else out.connection
    for i, media in enumerate(out.media):
        line = media.line
        media.line = type(line)(line.media, line.port, PROTO, line.formats, line.port_count)
        media.remove_attributes(*BROWSER_ONLY)
        if i != index or connection is None:
            continue
        media.set_attribute("mid", mid)
        media.set_attribute("ice-ufrag", ufrag)
        media.set_attribute("ice-pwd", password)
        media.set_attribute("fingerprint", fingerprint)
        media.set_attribute("setup", "actpass" if offer else "passive")
        media.set_attribute("rtcp-mux", None)
        media.set_attribute("candidate", f"1 1 udp 2130706431 {connection.address} {line.port} typ host")
        media.set_attribute("end-of-candidates", None)
    return out
