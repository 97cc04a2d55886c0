"""The glance at a new INVITE or REGISTER (sip/peek.py) agrees with the full parse wherever it
answers, and its stateless answer is the one ``make_response`` builds from the parsed request."""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from softswitch.sip.message import MessageError, Request, Response, make_response, parse_message
from softswitch.sip.peek import Peek, peek_new, stateless_answer
from softswitch.sip.uas import stamp_via

from ..golden.corpus import CASES

SIPP = (
    b"INVITE sip:5001@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1234-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:5070>;tag=1234SIPpTag001\r\n"
    b"To: <sip:5001@127.0.0.1:5060>\r\n"
    b"Call-ID: 1-1234@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.0.1:5070\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\nv=0\n"
)


def parsed(data: bytes) -> Request | None:
    try:
        msg = parse_message(data)
    except MessageError:
        return None
    return msg if isinstance(msg, Request) else None


def agrees(data: bytes, peek: Peek, method: str = "INVITE") -> None:
    """``peek`` read ``data`` as the parser does, and answers it as the parsed path would."""
    request = parsed(data)
    if request is None:
        return  # the parser refuses it; under overload a 503 is as right an answer as the 400
    assert request.method == method and request.to.tag is None
    assert (peek.call_id, peek.cseq, peek.from_value) == (request.call_id, request.cseq.number, request.get("from"))
    assert (peek.uri, peek.to_value) == (str(request.uri), request.get("to"))
    assert peek.noted == {name for name in ("authorization", "proxy-authorization", "require", "proxy-require")
                          if request.has(name)}
    assert (peek.via.branch, peek.via.sent_by) == (request.vias[0].branch, request.vias[0].sent_by)
    stamp_via(request, "192.0.2.7", 5999)
    expected = make_response(request, 503, "Overloaded", to_tag="sl1")
    got = parse_message(stateless_answer(peek, 503, "Overloaded", "sl1", (("Retry-After", "7"),), "192.0.2.7", 5999))
    assert isinstance(got, Response) and got.status == 503 and got.get("Retry-After") == "7"
    assert got.get("Content-Length") == "0" and got.body == b""
    assert [str(v) for v in got.vias] == [str(v) for v in expected.vias]
    for name in ("From", "To", "Call-ID", "CSeq"):
        assert got.get(name) == expected.get(name), name
    assert got.to.tag == "sl1"


def test_the_plain_shape_is_read() -> None:
    peek = peek_new(SIPP, "INVITE")
    assert peek is not None and peek.via.branch == "z9hG4bK-1234-1-0" and peek.via.sent_by == ("127.0.0.1", 5070)
    agrees(SIPP, peek)
    compact = SIPP.replace(b"Via:", b"v:").replace(b"From:", b"f:").replace(b"To:", b"t:").replace(b"Call-ID:", b"i:")
    peek = peek_new(compact, "INVITE")
    assert peek is not None
    agrees(compact, peek)


REGISTER = (
    b"REGISTER sip:acme.example SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1234-1-0;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:101@acme.example>;tag=1234T1\r\n"
    b"To: <sip:101@acme.example>\r\n"
    b"Call-ID: 1-1234@127.0.0.1\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Contact: <sip:101@127.0.0.1:5070>\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_a_register_is_read_with_what_changes_its_answer() -> None:
    peek = peek_new(REGISTER, "REGISTER")
    assert peek is not None and peek.noted == frozenset()
    assert (peek.uri, peek.to_value, peek.cseq) == ("sip:acme.example", "<sip:101@acme.example>", 1)
    agrees(REGISTER, peek, "REGISTER")
    assert peek_new(REGISTER, "INVITE") is None and peek_new(SIPP, "REGISTER") is None
    with_credentials = REGISTER.replace(b"CSeq: 1 REGISTER\r\n", b'CSeq: 2 REGISTER\r\nauthorization: Digest username="101"\r\n'
                                                                 b"Require: path\r\n")
    peek = peek_new(with_credentials, "REGISTER")
    assert peek is not None and peek.noted == {"authorization", "require"}
    agrees(with_credentials, peek, "REGISTER")
    assert peek_new(REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE"), "REGISTER") is None


def test_anything_else_is_left_to_the_parser() -> None:
    for old, new in [
        (b"To: <sip:5001@127.0.0.1:5060>", b"To: <sip:5001@127.0.0.1:5060>;tag=a"),  # in a dialog
        (b"To: <sip:5001@127.0.0.1:5060>", b"To: <sip:5001@127.0.0.1:5060> ; TAG = a"),
        (b"branch=z9hG4bK-1234-1-0", b"branch=1234"),  # RFC 2543: matched by the whole request
        (b"CSeq: 1 INVITE", b"CSeq: 1 ACK"),
        (b"CSeq: 1 INVITE", b"CSeq: 99999999999 INVITE"),
        (b"CSeq: 1 INVITE", b"CSeq: 2147483648 INVITE"),  # past 2**31-1: the parser's 400
        (b"CSeq: 1 INVITE", "CSeq: ² INVITE".encode()),  # digits to str.isdigit, not to int() nor to SIP
        (b"CSeq: 1 INVITE", "CSeq: ١ INVITE".encode()),
        (b"Call-ID: 1-1234@127.0.0.1\r\n", b""),
        (b"Call-ID: 1-1234@127.0.0.1\r\n", b"Call-ID: 1-1234@127.0.0.1\r\ni: again\r\n"),
        (b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1234-1-0",
         b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1234-1-0, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb"),
        (b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1234-1-0\r\n",
         b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1234-1-0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb\r\n"),
        (b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n  folded\r\n"),
        (b"SIP/2.0\r\nVia", b"SIP/2.1\r\nVia"),
        (b"\r\n\r\nv=0\n", b"\r\n"),  # no end of the header section
    ]:
        changed = SIPP.replace(old, new, 1)
        assert changed != SIPP, old
        assert peek_new(changed, "INVITE") is None, new


def test_the_corpus() -> None:
    """Each torture message the glance reads, it reads as the parser does."""
    for case in CASES:
        for method in ("INVITE", "REGISTER"):
            peek = peek_new(case.data, method)
            if peek is not None:
                agrees(case.data, peek, method)


NAMES = {"via": ["Via", "v", "VIA", "via "], "from": ["From", "f", "FROM"], "to": ["To", "t", "tO"],
         "call-id": ["Call-ID", "i", "call-id"], "cseq": ["CSeq", "CSEQ"]}
VALUES = {
    "via": st.sampled_from(["SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1", "SIP/2.0/udp host.example;branch=z9hG4bK2;rport",
                            "SIP/2.0/TCP [::1]:5061;branch=z9hG4bK3;received=1.2.3.4", "SIP/2.0/UDP h;branch=x",
                            "SIP/2.0/UDP h:99999;branch=z9hG4bK4", "SIP/2.0 / UDP h;branch=z9hG4bK5", "SIP/2.0/UDP h;branch=z9hG4bK6;;"]),
    "from": st.sampled_from(["<sip:a@b>;tag=1", '"A B" <sip:a@b>;tag=2', "sip:a@b;tag=3", "<sip:a@b", "A <sip:a@b>", ""]),
    "to": st.sampled_from(["<sip:c@d>", "sip:c@d", '"C" <sip:c@d;user=phone>', "<sip:c@d>;tag=x", "<sip:c@d>;tagx=1", "<c@d>"]),
    "call-id": st.sampled_from(["x@y", "abc", "a b", "", "%%%"]),
    "cseq": st.sampled_from(["1 {m}", "0009 {m}", "1 {m_lower}", "1  {m}", "x {m}", "4294967296 {m}", "1 OPTIONS"]),
}
NOTED = ["Authorization: Digest username=\"a\"", "authorization : x", "Proxy-Authorization: Digest y", "Require: path",
         "proxy-require:x", "Authorization-Info: z", "X-Require: 1"]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_generated_requests(data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(["INVITE", "REGISTER"]))
    lines = []
    for key in data.draw(st.permutations(list(NAMES))):
        name = data.draw(st.sampled_from(NAMES[key]))
        space = data.draw(st.sampled_from(["", " ", "  ", "\t"]))
        value = data.draw(VALUES[key]).format(m=method, m_lower=method.lower())
        lines.append(f"{name}:{space}{value}{data.draw(st.sampled_from(['', ' ']))}")
    lines += data.draw(st.lists(st.sampled_from(NOTED), max_size=2))
    uri = data.draw(st.sampled_from(["sip:5001@h", "sip:5001@h;x=1", "tel:+15550100", "sip:@", "<sip:x>"]))
    message = (f"{method} {uri} SIP/2.0\r\n" + "\r\n".join(lines) + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    peek = peek_new(message, method)
    event("glanced at" if peek is not None else "left to the parser")
    if peek is not None:
        agrees(message, peek, method)
