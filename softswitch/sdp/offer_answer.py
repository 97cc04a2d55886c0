"""Offer/answer rules for media anchored on the switch (RFC 3264, RFC 3550/3605/5761).

The relay sits between two legs: each leg is offered (or answered) the same session
with every connection address and port replaced by the switch's own relay ports,
codecs narrowed to what the switch relays and understands (PCMU, PCMA and RFC 4733
telephone-event), and what only makes sense end to end (ICE candidates, a=rtcp of
the far end) removed.  Pure: the caller passes the relay's address and ports.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sip.errors import RemoteProtocolError
from .model import Connection, Media, SessionDescription, parse_sdp

# Static payload types of RFC 3551 that we relay, by number; dynamic ones by rtpmap name.
STATIC = {"0": "PCMU", "8": "PCMA"}
SUPPORTED = ("PCMU", "PCMA", "telephone-event")
ICE_ATTRIBUTES = ("candidate", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "remote-candidates", "end-of-candidates")


@dataclass(frozen=True, slots=True)
class RelayPorts:
    """The switch's side of one media stream: RTP port and RTCP port (RTP + 1, or the
    same port when rtcp-mux is in use)."""

    rtp: int
    rtcp: int


def codecs_of(media: Media) -> dict[str, str]:
    """Each payload type of ``media``'s m= line and its encoding name, lower-case (the rtpmap's,
    else the static table's; '' when neither names it): read once per stream, not per format."""
    maps = media.rtpmaps()
    return {pt: (maps[pt].encoding if pt in maps else STATIC.get(pt) or "").lower() for pt in media.line.formats}


def narrow_codecs(sdp: SessionDescription, supported: tuple[str, ...] = SUPPORTED) -> SessionDescription:
    """Keep, in each audio stream, only the payload types we relay (order kept, as
    the offerer's preference).  A stream left with no voice codec is rejected (port 0,
    RFC 3264 §6); a session with no usable audio stream is ``488`` (RFC 3261 §13.3.1.3)."""
    out = sdp.copy()
    voice = [c for c in supported if c != "telephone-event"]
    usable = 0
    for media in out.media:
        line = media.line
        if line.media != "audio" or line.port == 0:
            if line.port != 0:
                media.line = type(line)(line.media, 0, line.proto, line.formats, None)
            continue
        if not line.proto.startswith("RTP/AVP"):
            media.line = type(line)(line.media, 0, line.proto, line.formats, None)
            continue
        names = codecs_of(media)
        maps = media.rtpmaps()
        wanted, voices = {c.lower() for c in supported}, {c.lower() for c in voice}
        # telephone-event at G.711's clock only (a browser also offers it at Opus's 48 kHz)
        kept = [pt for pt in line.formats if names[pt] in wanted
                and (names[pt] != "telephone-event" or pt not in maps or maps[pt].clock == 8000)]
        if not any(names[pt] in voices for pt in kept):
            media.line = type(line)(line.media, 0, line.proto, line.formats, None)
            continue
        usable += 1
        dropped = set(line.formats) - set(kept)
        media.line = type(line)(line.media, line.port, line.proto, tuple(kept), line.port_count)
        media.lines = [
            (k, v) for k, v in media.lines
            if not (k == "a" and v.partition(":")[0] in ("rtpmap", "fmtp", "rtcp-fb") and v.partition(":")[2].split(" ")[0] in dropped)
        ]
    if usable == 0:
        raise RemoteProtocolError("no common media: PCMU, PCMA (and telephone-event) are what this switch relays", 488)
    return out


def rewrite_for_relay(sdp: SessionDescription, address: str, ports: list[RelayPorts | None]) -> SessionDescription:
    """The same session as seen through the switch: every active stream's connection and
    port are the relay's (``ports[i]`` for ``sdp.media[i]``; None for a rejected stream)."""
    if len(ports) != len(sdp.media):
        raise ValueError("one RelayPorts (or None) per media stream")
    out = sdp.copy()
    addrtype = "IP6" if ":" in address else "IP4"
    out.set_connection(Connection(address, addrtype))
    for media, relay in zip(out.media, ports, strict=True):
        line = media.line
        if relay is None or line.port == 0:
            media.line = type(line)(line.media, 0, line.proto, line.formats, None)
            continue
        media.line = type(line)(line.media, relay.rtp, line.proto, line.formats, None)
        if media.connection is not None:
            media.set_connection(Connection(address, addrtype))
        media.remove_attributes(*ICE_ATTRIBUTES)
        if media.has_attribute("rtcp-mux"):
            media.remove_attributes("rtcp")
        else:
            media.set_attribute("rtcp", str(relay.rtcp))
    _origin_address(out, address, addrtype)
    return out


def _origin_address(sdp: SessionDescription, address: str, addrtype: str) -> None:
    """o= names the switch as the origin; session id and version belong to the call's state."""
    origin = sdp.first("o")
    if origin is None:
        return
    parts = origin.split()
    if len(parts) == 6:
        parts[4], parts[5] = addrtype, address
        sdp._replace("o", " ".join(parts), "vosiuepcbtrzka")


def relayed_stream(sdp: SessionDescription) -> int | None:
    """The index of the stream the switch relays: the first active audio stream."""
    for i, media in enumerate(sdp.media):
        line = media.line
        if line.media == "audio" and line.port != 0:
            return i
    return None


def stream_address(sdp: SessionDescription) -> tuple[str, int] | None:
    """Where the relayed stream's party said it receives RTP (None when it holds with
    0.0.0.0 or offers no active audio; RFC 3264 §8.4)."""
    index = relayed_stream(sdp)
    if index is None:
        return None
    media = sdp.media[index]
    connection = sdp.media_connection(media)
    if connection is None or connection.address in ("0.0.0.0", "::"):
        return None
    return (connection.address, media.line.port)


def relay_view(sdp: SessionDescription, address: str, ports: RelayPorts) -> SessionDescription:
    """``sdp`` as the other leg must see it: the relayed stream on ``ports``, any other
    stream rejected (port 0)."""
    index = relayed_stream(sdp)
    return rewrite_for_relay(sdp, address, [ports if i == index else None for i in range(len(sdp.media))])


def sendrecv(sdp: SessionDescription) -> SessionDescription:
    """``sdp`` with its relayed stream sending and receiving (no ``sendonly``, ``recvonly`` or
    ``inactive`` there or at session level): what a party on hold offers when it is taken
    off hold (RFC 3264 §8.4)."""
    out = sdp.copy()
    directions = ("sendonly", "recvonly", "inactive")
    out.remove_attributes(*directions)
    index = relayed_stream(out)
    if index is not None:
        out.media[index].remove_attributes(*directions)
    return out


def voice_payload(sdp: SessionDescription) -> int | None:
    """The G.711 payload type (0 PCMU, 8 PCMA) the relayed stream uses: the first one listed,
    which in an answer is the codec of the session (RFC 3264 §6.1)."""
    return _payload(sdp, ("pcmu", "pcma"))


def event_payload(sdp: SessionDescription) -> int | None:
    """The RFC 4733 telephone-event payload type of the relayed stream, if any."""
    return _payload(sdp, ("telephone-event",))


def _payload(sdp: SessionDescription, names: tuple[str, ...]) -> int | None:
    index = relayed_stream(sdp)
    if index is None:
        return None
    for pt, name in codecs_of(sdp.media[index]).items():
        if name in names and pt.isdigit():
            return int(pt)
    return None


def own_origin(sdp: SessionDescription, session: str, version: int, address: str) -> SessionDescription:
    """``sdp`` with the switch as its origin: ``o=softswitch <session> <version> ...``
    (RFC 4566 §5.2; the same session id for the whole dialog, RFC 3264 §8)."""
    out = sdp.copy()
    addrtype = "IP6" if ":" in address else "IP4"
    out._replace("o", f"softswitch {session} {version} IN {addrtype} {address}", "vosiuepcbtrzka")
    return out


def keep_voice(sdp: SessionDescription, codecs: tuple[str, ...] = ("pcmu", "pcma")) -> SessionDescription:
    """A copy of ``sdp`` whose relayed stream keeps only the first G.711 codec it lists (of
    ``codecs``) and telephone-event if listed; ``488`` when it lists none of them."""
    out = sdp.copy()
    index = relayed_stream(out)
    if index is None:
        raise RemoteProtocolError("no audio stream to answer", 488)
    media = out.media[index]
    line = media.line
    names = codecs_of(media)
    voice = next((pt for pt in line.formats if names[pt] in codecs), None)
    if voice is None:
        raise RemoteProtocolError(f"none of {', '.join(c.upper() for c in codecs)} offered: G.711 is what the switch plays", 488)
    kept = [voice] + [pt for pt in line.formats if names[pt] == "telephone-event"][:1]
    media.line = type(line)(line.media, line.port, line.proto, tuple(kept), None)
    media.lines = [(k, v) for k, v in media.lines
                   if not (k == "a" and v.partition(":")[0] in ("rtpmap", "fmtp", "rtcp-fb")
                           and v.partition(":")[2].split(" ")[0] not in kept)]
    return out


def answer_alone(offer: SessionDescription, address: str, ports: RelayPorts, session: str,
                 codecs: tuple[str, ...] = ("pcmu", "pcma")) -> SessionDescription:
    """The switch's own answer when it takes the call itself (a menu, an announcement, a
    pick-up): the relayed stream keeps the first G.711 codec offered (of ``codecs``) and
    telephone-event if offered, on ``ports``, its direction the mirror of the offer's (RFC
    3264 §6.1); the offer must be narrowed already."""
    out = keep_voice(offer, codecs)
    media = out.media[relayed_stream(out) or 0]
    mirror = {"sendonly": "recvonly", "recvonly": "sendonly"}
    for section in (out, media):
        section.lines = [(k, mirror.get(v, v) if k == "a" else v) for k, v in section.lines]
    return own_origin(relay_view(out, address, ports), session, 1, address)


def common_voice(one: SessionDescription, other: SessionDescription) -> str | None:
    """The first G.711 codec of ``one``'s relayed stream that ``other``'s offers too (both
    narrowed): what two phones answered separately by the switch must both use."""
    theirs = set(_voice_codecs(other))
    return next((c for c in _voice_codecs(one) if c in theirs), None)


def _voice_codecs(sdp: SessionDescription) -> list[str]:
    index = relayed_stream(sdp)
    if index is None:
        return []
    return [name for name in codecs_of(sdp.media[index]).values() if name in ("pcmu", "pcma")]


def own_offer(address: str, ports: RelayPorts, session: str) -> SessionDescription:
    """The switch's offer to a caller whose INVITE had none (RFC 3261 §13.2.1: the answer
    comes in the ACK): PCMU, PCMA and telephone-event on ``ports``."""
    addrtype = "IP6" if ":" in address else "IP4"
    text = (f"v=0\r\no=softswitch {session} 1 IN {addrtype} {address}\r\ns=softswitch\r\nc=IN {addrtype} {address}\r\n"
            f"t=0 0\r\nm=audio {ports.rtp} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp:{ports.rtcp}\r\na=sendrecv\r\n")
    return parse_sdp(text)
