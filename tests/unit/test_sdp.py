"""SDP model round trip and the relay's offer/answer rules."""

from __future__ import annotations

import pytest

from softswitch.sdp.model import Connection, parse_sdp
from softswitch.sdp.offer_answer import RelayPorts, narrow_codecs, rewrite_for_relay
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import parse_message

from ..golden.corpus import CASES

LINPHONE = (
    "v=0\r\n"
    "o=101 3021 2361 IN IP4 192.168.1.20\r\n"
    "s=Talk\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "t=0 0\r\n"
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
    "m=audio 7078 RTP/AVP 96 0 8 101 97\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=rtpmap:97 speex/16000\r\n"
    "a=rtcp-mux\r\n"
    "a=candidate:1 1 UDP 2130706431 192.168.1.20 7078 typ host\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:0123456789abcdef0123\r\n"
    "m=video 9078 RTP/AVP 96\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
)

YEALINK = (
    "v=0\r\n"
    "o=- 20004 20004 IN IP4 10.0.0.5\r\n"
    "s=SDP data\r\n"
    "c=IN IP4 10.0.0.5\r\n"
    "t=0 0\r\n"
    "m=audio 11800 RTP/AVP 9 0 8 18 101\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
)


@pytest.mark.parametrize("text", [LINPHONE, YEALINK])
def test_round_trip_is_exact(text: str) -> None:
    assert str(parse_sdp(text)) == text
    assert bytes(parse_sdp(text.encode())) == text.encode()


def test_corpus_bodies_round_trip() -> None:
    for case in CASES:
        if case.file not in ("wsinv.sip", "sdp01.sip", "longreq.sip", "esc01.sip"):
            continue
        body = parse_message(case.data).body
        assert bytes(parse_sdp(body)) == body, case.file


def test_views() -> None:
    sdp = parse_sdp(YEALINK)
    (audio,) = sdp.media
    assert audio.line.port == 11800 and audio.line.formats == ("9", "0", "8", "18", "101")
    assert sdp.media_connection(audio) == Connection("10.0.0.5")
    assert audio.rtpmaps()["101"].encoding == "telephone-event"
    assert audio.direction == "sendrecv" and audio.attribute("ptime") == "20"


@pytest.mark.parametrize("bad", ["", "o=x\r\n", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio port RTP/AVP 0\r\n",
                                 "v=0\r\ns=-\r\n", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4\r\n", "v=0\r\nbad line\r\n"])
def test_malformed_is_400(bad: str) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        parse_sdp(bad)
    assert err.value.status_hint == 400


def test_narrow_keeps_offer_order_of_what_we_relay() -> None:
    out = narrow_codecs(parse_sdp(YEALINK))
    (audio,) = out.media
    assert audio.line.formats == ("0", "8", "101")
    assert set(audio.rtpmaps()) == {"0", "8", "101"}
    assert "fmtp:18 annexb=no" not in str(out)
    assert "a=ptime:20" in str(out)  # the rest passes through


def test_narrow_rejects_video_and_unusable_streams() -> None:
    out = narrow_codecs(parse_sdp(LINPHONE))
    audio, video = out.media
    assert audio.line.formats == ("0", "8", "101")
    assert video.line.port == 0  # rejected, RFC 3264 §6


def test_nothing_common_is_488() -> None:
    only_g729 = YEALINK.replace("m=audio 11800 RTP/AVP 9 0 8 18 101", "m=audio 11800 RTP/AVP 18 101")
    with pytest.raises(RemoteProtocolError) as err:
        narrow_codecs(parse_sdp(only_g729))
    assert err.value.status_hint == 488


def test_rewrite_for_relay() -> None:
    sdp = narrow_codecs(parse_sdp(LINPHONE))
    out = rewrite_for_relay(sdp, "203.0.113.7", [RelayPorts(10000, 10000), None])
    text = str(out)
    assert "c=IN IP4 203.0.113.7\r\n" in text and "192.168.1.20" not in text
    audio, video = out.media
    assert audio.line.port == 10000 and video.line.port == 0
    assert not audio.has_attribute("candidate") and not audio.has_attribute("ice-ufrag")
    assert audio.has_attribute("rtcp-mux") and not audio.has_attribute("rtcp")
    assert out.first("o") == "101 3021 2361 IN IP4 203.0.113.7"


def test_rewrite_without_mux_announces_rtcp_port() -> None:
    out = rewrite_for_relay(parse_sdp(YEALINK), "127.0.0.1", [RelayPorts(10002, 10003)])
    assert out.media[0].attribute("rtcp") == "10003" and out.media[0].line.port == 10002
    assert parse_sdp(str(out)).media[0].line.formats == ("9", "0", "8", "18", "101")  # no narrowing here
