"""A request the switch sends of its own (an unsolicited NOTIFY, a check-sync, plug-and-play's
answer): RFC 3261 §8.1.1's headers in order, CSeq 1, the body's type and length, and it parses
back as it was built."""

from __future__ import annotations

from softswitch.sip.message import Header, Request, new_request, parse_message
from softswitch.sip.uri import parse_uri


def test_a_new_request_has_the_mandatory_headers_and_parses_back() -> None:
    request = new_request("NOTIFY", parse_uri("sip:101@192.0.2.5:5062"), "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx",
                          "<sip:101@acme.example>;tag=a1", "<sip:101@acme.example>", "c1@switch",
                          [Header("Event", "check-sync;reboot=false")], b"http://pbx/", "application/url")
    assert [h.key for h in request.headers] == ["via", "max-forwards", "from", "to", "call-id", "cseq", "event",
                                                "content-type", "content-length"]
    again = parse_message(bytes(request))
    assert isinstance(again, Request)
    assert again.method == "NOTIFY" and again.cseq.number == 1 and again.cseq.method == "NOTIFY"
    assert again.get("Content-Length") == "11" and again.body == b"http://pbx/"
    bare = new_request("OPTIONS", parse_uri("sip:x@192.0.2.5"), "SIP/2.0/UDP h;branch=z9hG4bKy", "<sip:a@b>;tag=t",
                       "<sip:x@192.0.2.5>", "c2")
    assert bare.get("Content-Type") is None and bare.get("Content-Length") == "0"
