"""Which calls rtpengine may carry (media.engine: rtpengine) and which stay on the relay."""

from __future__ import annotations

from softswitch.b2bua.actions import Device, Stage
from softswitch.b2bua.media_plane import stays_on_relay
from softswitch.sdp.model import parse_sdp
from softswitch.sip.transaction import Target

OFFER = parse_sdp("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
                  "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
PHONE = Device("sip:102@10.0.0.2:5060", Target("UDP", "10.0.0.2", 5060), "phone")
RING = [Stage((PHONE,), 30, "sip:102@acme.example", "102", "102")]
PLAIN = {"browser_caller": False, "websocket": False, "records": False}


def test_a_plain_call_between_phones_is_rtpengine_s() -> None:
    assert stays_on_relay(OFFER, RING, **PLAIN) is None


def test_calls_the_switch_must_hear_speak_into_or_encrypt_stay_on_the_relay() -> None:
    webrtc = parse_sdp(bytes(OFFER).replace(b"RTP/AVP", b"UDP/TLS/RTP/SAVPF"))
    confirming = [Stage((PHONE,), 30, "sip:0909@trunk", "0909", confirm="press-1")]
    assert stays_on_relay(None, RING, **PLAIN) == "no offer to give rtpengine"  # a late offer
    assert stays_on_relay(webrtc, RING, **PLAIN) == "a browser's leg"
    assert stays_on_relay(OFFER, RING, **{**PLAIN, "browser_caller": True}) == "a browser's leg"
    assert stays_on_relay(OFFER, [Stage((), 30, "sip:102@acme.example", "102")], **PLAIN) == "nobody to ring"
    assert stays_on_relay(OFFER, confirming, **PLAIN) == "a member confirms with a key and a prompt"
    assert stays_on_relay(OFFER, RING, **{**PLAIN, "websocket": True}) is not None
    assert stays_on_relay(OFFER, RING, **{**PLAIN, "records": True}) == "the account records calls"
