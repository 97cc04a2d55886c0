"""Every RFC 4475 message gets its verdict from the parser; accepted ones round-trip."""

from __future__ import annotations

import pytest

from softswitch.sip.headers import NameAddr
from softswitch.sip.message import MessageError, Request, Response, parse_message
from softswitch.sip.uri import AbsoluteUri, SipUri, unescape

from .corpus import CASES, Case

MUST_PARSE = {"accept", "accept-parse-then-error"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file)
def test_verdict(case: Case) -> None:
    if case.verdict in MUST_PARSE:
        msg = parse_message(case.data)
        assert isinstance(msg, Response if case.kind == "response" else Request)
        # Byte-exact round trip (dblreq carries trailing octets that are not part of the message).
        assert case.data.startswith(bytes(msg))
    elif case.verdict == "reject":
        with pytest.raises(MessageError) as err:
            parse_message(case.data)
        assert err.value.status_hint in case.expected_status
        assert err.value.is_request is True
    elif case.verdict == "reject-or-tolerate":
        try:
            msg = parse_message(case.data)
        except MessageError as exc:
            assert exc.status_hint == 400
        else:
            assert case.data.startswith(bytes(msg))
    else:
        assert case.verdict == "drop" and case.kind == "response"
        try:
            msg = parse_message(case.data)
        except MessageError as exc:
            assert exc.is_request is False  # the boundary drops it: no response to a response
        else:
            assert isinstance(msg, Response)


def _parse(name: str) -> Request | Response:
    case = next(c for c in CASES if c.file == name)
    return parse_message(case.data)


def test_wsinv_fields() -> None:
    msg = _parse("wsinv.sip")
    assert isinstance(msg, Request)
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert msg.vias[0].branch == "390skdjuw"
    assert msg.vias[2].host == "192.168.255.111" and msg.vias[2].branch == "z9hG4bK30239"
    assert msg.max_forwards == 68
    assert (msg.cseq.number, msg.cseq.method) == (9, "INVITE")
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"' and msg.from_.tag == "98asjd8"
    assert msg.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("Subject") == ""
    assert len(msg.body) == 150
    contact = msg.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert contact.param("q") == "0.33" and contact.param("newparam") == "newvalue"


def test_intmeth_fields() -> None:
    msg = _parse("intmeth.sip")
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert isinstance(msg.uri, SipUri)
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert "\x00" in (msg.to.display_name or "") and "\x07" in (msg.to.display_name or "")
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"


def test_esc01_escapes_once() -> None:
    msg = _parse("esc01.sip")
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.user_unescaped == "sips:user@example.com"
    to_uri = msg.to.sip_uri
    assert to_uri is not None and to_uri.user_unescaped == "user"
    contact = msg.contacts[0].sip_uri
    assert contact is not None
    assert [unescape(n) for n, _ in contact.params] == ["lr", "name"]
    assert unescape(contact.params[1][1] or "") == "value%41"


def test_escnull_two_distinct_contacts() -> None:
    msg = _parse("escnull.sip")
    uris = [c.sip_uri for c in msg.contacts]
    assert all(u is not None for u in uris)
    users = [u.user_unescaped for u in uris if u]
    assert users == ["\x00", "\x00\x00"]
    assert msg.to.sip_uri and msg.to.sip_uri.user_unescaped == "null-\x00-null"


def test_esc02_unknown_method_two_contacts() -> None:
    msg = _parse("esc02.sip")
    assert isinstance(msg, Request)
    assert msg.method == "RE%47IST%45R"
    assert len(msg.contacts) == 2
    assert msg.get("C%6Fntact") is not None


def test_semiuri_user_holds_semicolon() -> None:
    msg = _parse("semiuri.sip")
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.user_unescaped == "user;par=u@example.net"
    assert msg.uri.params == ()


def test_dblreq_only_register() -> None:
    msg = _parse("dblreq.sip")
    assert isinstance(msg, Request) and msg.method == "REGISTER" and msg.body == b""


def test_inv2543_body_is_rest_of_datagram() -> None:
    msg = _parse("inv2543.sip")
    assert isinstance(msg, Request)
    assert msg.vias[0].branch is None and msg.from_.tag is None
    assert msg.body.startswith(b"v=0")


def test_unknown_schemes_parse() -> None:
    msg = _parse("unksm2.sip")
    assert isinstance(msg.to.uri, AbsoluteUri) and msg.to.uri.scheme == "isbn"
    assert isinstance(msg.contacts[0], NameAddr) and isinstance(msg.contacts[0].uri, AbsoluteUri)


def test_cparam_contact_vs_uri_params() -> None:
    c1 = _parse("cparam01.sip").contacts[0]
    assert c1.param("unknownparam") == "" and c1.sip_uri and not c1.sip_uri.params
    c2 = _parse("cparam02.sip").contacts[0]
    assert c2.params == () and c2.sip_uri and c2.sip_uri.has_param("unknownparam")


def test_regescrt_keeps_escaped_header_in_uri() -> None:
    contact = _parse("regescrt.sip").contacts[0].sip_uri
    assert contact is not None and contact.headers == (("Route", "%3Csip:sip.example.com%3E"),)


def test_unreason_reason_phrase() -> None:
    msg = _parse("unreason.sip")
    assert isinstance(msg, Response) and msg.status == 200 and msg.reason.startswith("= 2**3 * 5**2 ")
    empty = _parse("noreason.sip")
    assert isinstance(empty, Response) and empty.reason == ""
