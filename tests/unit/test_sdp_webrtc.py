"""A browser's SDP and the switch's, converted at the edge (sdp/webrtc.py): Chrome's offer made
plain for the call core, the switch's answer made WebRTC for Chrome (ICE-lite, DTLS passive,
rtcp-mux, the mid and bundle mirrored), and an offer to a browser."""

from __future__ import annotations

from softswitch.sdp.model import parse_sdp
from softswitch.sdp.offer_answer import RelayPorts, narrow_codecs, relay_view, stream_address
from softswitch.sdp.webrtc import browser_dtls, is_webrtc, to_plain, to_webrtc

CHROME_OFFER = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\na=msid-semantic: WMS 7a3f\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:1 1 udp 2122260223 3c4f5e.local 54400 typ host generation 0\r\n"
    "a=ice-ufrag:brws\r\na=ice-pwd:browserpasswordbrowserpw\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
    "a=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\n"
    "a=msid:7a3f 2b1c\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\na=ssrc:1001 cname:abcd\r\n"
)


def test_a_browsers_offer_is_made_plain_for_the_call_core() -> None:
    offer = parse_sdp(CHROME_OFFER)
    assert is_webrtc(offer)
    dtls = browser_dtls(offer)
    assert dtls.fingerprint is not None and dtls.fingerprint.startswith("sha-256 AA:BB")
    assert (dtls.setup, dtls.mid, dtls.bundle) == ("actpass", "0", "BUNDLE 0")
    plain = narrow_codecs(to_plain(offer))
    assert not is_webrtc(plain)
    media = plain.media[0]
    assert media.line.proto == "RTP/AVP" and media.line.formats == ("0", "8", "126")
    text = str(plain)
    for gone in ("ice-", "candidate", "fingerprint", "setup", "rtcp-mux", "BUNDLE", "extmap", "ssrc", "msid", "mid:"):
        assert gone not in text, gone
    assert stream_address(plain) is None  # where the browser is, ICE says


def test_the_switchs_answer_is_made_webrtc_for_the_browser() -> None:
    offer = parse_sdp(CHROME_OFFER)
    phone_answer = parse_sdp("v=0\r\no=phone 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
                             "m=audio 4000 RTP/AVP 0 126\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n"
                             "a=sendrecv\r\n")
    to_browser = relay_view(phone_answer, "127.0.0.1", RelayPorts(10000, 10001))
    answer = to_webrtc(to_browser, "sw01", "switchpasswordswitchpass", "sha-256 12:34", offer=False,
                       browser=browser_dtls(offer))
    media = answer.media[0]
    assert media.line.proto == "UDP/TLS/RTP/SAVPF" and media.line.port == 10000 and media.line.formats == ("0", "126")
    assert media.attribute("ice-ufrag") == "sw01" and media.attribute("ice-pwd") == "switchpasswordswitchpass"
    assert media.attribute("fingerprint") == "sha-256 12:34" and media.attribute("setup") == "passive"
    assert media.has_attribute("rtcp-mux") and media.attribute("mid") == "0" and not media.has_attribute("rtcp")
    assert media.attribute("candidate") == "1 1 udp 2130706431 127.0.0.1 10000 typ host"
    assert answer.attribute("group") == "BUNDLE 0" and answer.has_attribute("ice-lite")
    assert parse_sdp(bytes(answer)).media[0].attribute("setup") == "passive"  # serialises and parses back


def test_an_offer_to_a_browser_says_actpass_and_bundles_its_one_stream() -> None:
    phone_offer = parse_sdp("v=0\r\no=phone 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
                            "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:4001\r\n")
    to_browser = relay_view(narrow_codecs(phone_offer), "127.0.0.1", RelayPorts(10002, 10003))
    offer = to_webrtc(to_browser, "sw02", "switchpasswordswitchpass", "sha-256 12:34", offer=True)
    media = offer.media[0]
    assert media.attribute("setup") == "actpass" and media.attribute("mid") == "0" and offer.attribute("group") == "BUNDLE 0"
    assert media.line.formats == ("8", "0", "101") and not media.has_attribute("rtcp")
