"""SDP on hostile input: only protocol errors; what parses round-trips and survives the relay rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sdp.model import parse_sdp
from softswitch.sdp.offer_answer import RelayPorts, narrow_codecs, rewrite_for_relay
from softswitch.sip.errors import RemoteProtocolError

from ..unit.test_sdp import LINPHONE, YEALINK

LINES = st.sampled_from([
    "v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "c=IN IP4 1.2.3.4", "c=IN IP6 ::1", "t=0 0", "m=audio 4000 RTP/AVP 0 8 101",
    "m=audio 0 RTP/AVP 0", "m=video 5000 RTP/AVP 96", "m=audio 70000 RTP/AVP 0", "a=rtpmap:101 telephone-event/8000",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:96 opus/48000/2", "a=rtpmap:x", "a=rtcp-mux", "a=sendonly", "a=rtcp:4001", "garbage",
    "m=audio 4000/2 RTP/AVP 0", "m=audio", "b=AS:64", "a=", "z=", "\x00=x", "v=0\x80",
])


@settings(max_examples=3000, deadline=None)
@given(st.lists(LINES, min_size=0, max_size=14), st.sampled_from(["\r\n", "\n"]))
def test_random_sdp(lines: list[str], sep: str) -> None:
    text = sep.join(lines) + sep
    try:
        sdp = parse_sdp(text.encode("utf-8", "surrogateescape"))
    except RemoteProtocolError as exc:
        assert exc.status_hint == 400
        return
    assert str(parse_sdp(str(sdp))) == str(sdp)
    try:
        narrowed = narrow_codecs(sdp)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 488
        return
    out = rewrite_for_relay(narrowed, "127.0.0.1", [RelayPorts(10000, 10001) for _ in narrowed.media])
    assert str(parse_sdp(str(out))) == str(out)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([LINPHONE, YEALINK]))
def test_mutated_bytes(noise: bytes, base: str) -> None:
    data = base.encode()
    cut = len(noise) % max(1, len(data))
    try:
        parse_sdp(data[:cut] + noise + data[cut:])
    except RemoteProtocolError:
        pass
