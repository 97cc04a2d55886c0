"""The parser and framer on hostile input: only protocol errors ever come out."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.framing import StreamFramer
from softswitch.sip.message import Request, make_error_response, make_response, parse_message

from ..golden.corpus import CASES

SEEDS = [c.data for c in CASES]
SIP_BYTES = st.sampled_from(list(b"\r\n :;,<>\"\\=@%/?[]0123456789zZ\t\x00\xff"))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == 1:
            data[pos:pos] = bytes(draw(st.lists(SIP_BYTES, min_size=1, max_size=10)))
        elif data:
            data[pos] = draw(SIP_BYTES)
    return bytes(data)


def _exercise(data: bytes, stream: bool) -> None:
    try:
        msg = parse_message(data, stream=stream)
    except RemoteProtocolError as exc:
        assert 100 <= exc.status_hint <= 699
        headers = getattr(exc, "headers", [])
        make_error_response(headers, exc.status_hint, "Bad Request")  # must always be buildable
        return
    # What parsed re-serialises to bytes that parse again to the same bytes ...
    again = parse_message(bytes(msg), stream=stream)
    assert bytes(again) == bytes(msg)
    # ... and can be read and answered without anything but protocol errors.
    try:
        _ = (msg.vias, msg.from_, msg.to, msg.cseq, msg.call_id)
        if isinstance(msg, Request):
            _ = (msg.contacts, msg.expires, msg.max_forwards)
            bytes(make_response(msg, 200, to_tag="x"))
    except RemoteProtocolError:
        pass


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    _exercise(data, stream=False)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus(data: bytes) -> None:
    _exercise(data, stream=False)
    _exercise(data, stream=True)


@settings(max_examples=1000, deadline=None)
@given(mutated(), st.lists(st.integers(1, 200), max_size=10))
def test_framer_on_any_chunks(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer(max_size=4096)
    pos = 0
    try:
        for cut in cuts + [len(data)]:
            for event in framer.feed(data[pos : pos + cut]):
                if hasattr(event, "data"):
                    _exercise(event.data, stream=True)
            pos += cut
    except RemoteProtocolError:
        pass


def test_parsed_messages_reserialise_identically() -> None:
    for case in CASES:
        try:
            msg = parse_message(case.data)
        except RemoteProtocolError:
            continue
        again = parse_message(bytes(msg))
        assert bytes(again) == bytes(msg)
