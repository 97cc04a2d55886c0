"""RFC 3261 §12 dialogs: creation from both sides, in-dialog requests, CSeq checks."""

from __future__ import annotations

import pytest

from softswitch.sip.dialog import Dialog
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response, parse_message
from softswitch.sip.transaction import Target

INVITE = (
    b"INVITE sip:102@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1\r\n"
    b"Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\r\n"
    b"From: \"A\" <sip:101@acme.example>;tag=aa\r\nTo: <sip:102@acme.example>\r\nCall-ID: c1\r\n"
    b"CSeq: 7 INVITE\r\nContact: <sip:101@10.0.0.5:5060>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)
SRC = Target("UDP", "192.0.2.1", 40000)


def test_uas_dialog_sends_requests_to_the_flow_with_route_set_in_order() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    d = Dialog.as_uas(req, "bb", "<sip:sw@192.0.2.9>", SRC)
    assert d.key == ("c1", "bb") and d.remote_seq == 7 and d.target == SRC
    bye = d.request("BYE", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKx")
    assert str(bye.uri) == "sip:101@10.0.0.5:5060"
    assert bye.get_all("Route") == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert bye.from_.tag == "bb" and bye.to.tag == "aa" and bye.cseq.number == 1
    assert bye.from_.uri == req.to.uri and bye.to.display_name == "A"


def test_uac_dialog_reverses_route_set_and_acks_with_invite_cseq() -> None:
    req = parse_message(INVITE.replace(b"Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\r\n", b""))
    resp = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1\r\n"
        b"Record-Route: <sip:p2.example;lr>\r\nRecord-Route: <sip:p1.example;lr>\r\n"
        b"From: \"A\" <sip:101@acme.example>;tag=aa\r\nTo: <sip:102@acme.example>;tag=cc\r\nCall-ID: c1\r\n"
        b"CSeq: 7 INVITE\r\nContact: <sip:102@10.0.0.7>\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(req, Request) and isinstance(resp, Response)
    d = Dialog.as_uac(req, resp, SRC)
    ack = d.ack(7, "SIP/2.0/UDP x;branch=z9hG4bKa")
    assert ack.cseq.number == 7 and ack.cseq.method == "ACK" and str(ack.uri) == "sip:102@10.0.0.7"
    assert ack.get_all("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert d.request("BYE", "SIP/2.0/UDP x;branch=z9hG4bKb").cseq.number == 8


def test_accept_checks_cseq_and_refreshes_target() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    d = Dialog.as_uas(req, "bb", "<sip:sw@192.0.2.9>", SRC)
    reinvite = parse_message(INVITE.replace(b"CSeq: 7", b"CSeq: 8").replace(b"10.0.0.5:5060>", b"10.0.0.6:5070>"))
    assert isinstance(reinvite, Request)
    d.accept(reinvite)
    assert str(d.remote_target) == "sip:101@10.0.0.6:5070"
    with pytest.raises(RemoteProtocolError) as err:
        d.accept(reinvite)
    assert err.value.status_hint == 500
