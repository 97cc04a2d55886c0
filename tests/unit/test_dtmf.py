"""Keys in SIP INFO bodies and the keys a leg typed (b2bua/dtmf.py)."""

from __future__ import annotations

import pytest

from softswitch.b2bua.dtmf import Typed, info_key
from softswitch.sip.message import Request, parse_message


def info(body: str, ctype: str) -> Request:
    msg = parse_message(
        "INFO sip:b2bua@203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKi\r\nFrom: <sip:a@x>;tag=1\r\n"
        f"To: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 3 INFO\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
    assert isinstance(msg, Request)
    return msg


@pytest.mark.parametrize(("body", "ctype", "key"), [
    ("Signal=5\r\nDuration=160\r\n", "application/dtmf-relay", "5"),
    ("signal= *\nduration=250", "Application/DTMF-Relay; charset=x", "*"),
    ("Signal=11\r\nDuration=100\r\n", "application/dtmf-relay", "#"),  # the event code of '#'
    ("Signal=a\r\n", "application/dtmf-relay", "A"),
    ("#", "application/dtmf", "#"),
    ("Duration=160\r\n", "application/dtmf-relay", None),
    ("Signal=55\r\n", "application/dtmf-relay", None),
    ("Signal=5\r\n", "application/media_control+xml", None),
])
def test_info_key(body: str, ctype: str, key: str | None) -> None:
    assert info_key(info(body, ctype)) == key


def test_typed_keeps_the_last_keys_within_the_pause() -> None:
    typed = Typed()
    assert [typed.add(k, 10.0 + i, 3) for i, k in enumerate("1*85")] == ["1", "1*", "1*8", "*85"]
    assert typed.add("9", 20.0, 3) == "9"  # after a long pause: a new sequence
    typed.clear()
    assert typed.add("*", 20.1, 3) == "*"
