"""Helpers to build test messages."""

from __future__ import annotations

from softswitch.sip.message import Request, Response, parse_message


def request(method: str = "OPTIONS", branch: str = "z9hG4bKabc", uri: str = "sip:101@acme.example",
            extra: str = "", cseq: int = 1, via_host: str = "127.0.0.1:5062", transport: str = "UDP",
            to_tag: str = "") -> Request:
    to = f"<sip:101@acme.example>{';tag=' + to_tag if to_tag else ''}"
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {via_host};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:101@acme.example>;tag=f1\r\n"
        f"To: {to}\r\n"
        "Call-ID: call-1@test\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def response_to(req: Request, status: int, to_tag: str = "t1") -> Response:
    from softswitch.sip.message import make_response

    return make_response(req, status, to_tag=to_tag)
