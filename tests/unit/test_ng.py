"""rtpengine's ng protocol: bencode both ways (BEP 3) and what the switch reads from answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.media.ng import NgError, decode, encode, text
from softswitch.media.rtpengine import EngineCall, RtpEngine, _counters, _ports, _rtp_packets, ringing
from softswitch.sdp.model import parse_sdp
from softswitch.sdp.offer_answer import RelayPorts

values = st.recursive(
    st.integers(-(2**63), 2**63) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@given(values)
def test_what_is_encoded_decodes_to_itself(value: Any) -> None:
    assert decode(encode(value)) == value


def test_an_offer_is_encoded_as_rtpengine_reads_it() -> None:
    # BEP 3: dictionary keys sorted as raw strings; strings length-prefixed; integers i...e
    assert encode({"sdp": "v=0", "command": "offer", "flags": ["port-latching"], "n": -3}) == \
        b"d7:command5:offer5:flagsl13:port-latchinge1:ni-3e3:sdp3:v=0e"


@pytest.mark.parametrize("data", [b"", b"i", b"i-0e", b"i03e", b"ie", b"i1x2e", b"3:ab", b"03:abc", b"l", b"d1:ae",
                                  b"di1e1:ae", b"x", b"i1ei2e", b"l" * 70 + b"e" * 70])
def test_malformed_bencode_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)


def test_answers_read_as_text() -> None:
    assert text(decode(b"d6:result2:ok6:totalsd3:RTPd7:packetsi5eeee")) == {"result": "ok", "totals": {"RTP": {"packets": 5}}}


SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n"
       "m=video 0 RTP/AVP 96\r\nm=audio 40056 RTP/AVP 0 101\r\na=rtcp:40057\r\n")


def test_the_ports_of_the_relayed_stream_come_from_rtpengine_s_sdp() -> None:
    assert _ports({"sdp": SDP}, 1) == ("127.0.0.9", RelayPorts(40056, 40057))
    muxed = SDP.replace("a=rtcp:40057\r\n", "a=rtcp-mux\r\n")
    assert _ports({"sdp": muxed}, 1) == ("127.0.0.9", RelayPorts(40056, 40056))


QUERY = {
    "created": 1000,
    "tags": {
        "a": {"medias": [{"streams": [
            {"local port": 40034, "flags": ["RTP"], "last packet": 1010, "stats": {"packets": 236, "bytes": 40592, "errors": 0}},
            {"local port": 40035, "flags": ["RTCP"], "last packet": 1030, "stats": {"packets": 2, "bytes": 100, "errors": 0}},
        ]}]},
        "b": {"medias": [{"streams": [
            {"local port": 40056, "flags": ["RTP"], "last packet": 1012, "stats": {"packets": 230, "bytes": 39560, "errors": 1}},
        ]}]},
    },
}


def test_a_query_gives_each_leg_s_rtp_counters() -> None:
    counters = _counters(QUERY)
    assert (counters["a"].packets, counters["a"].bytes) == (236, 40592)  # RTCP apart, as the relay counts
    assert (counters["b"].packets, counters["b"].errors) == (230, 1)
    assert _rtp_packets(QUERY) == 466


@pytest.mark.parametrize("answer", [
    {}, {"tags": 5}, {"tags": {"a": "x"}}, {"tags": {"a": {"medias": "xx"}}}, {"tags": {"a": {"medias": [{"streams": 5}]}}},
    {"tags": {"a": {"medias": [{"streams": [{"flags": 5, "stats": "x"}]}]}}},
    {"tags": {"a": {"medias": [{"streams": [{"flags": ["RTP"], "stats": {"packets": "n/a", "bytes": -4}}]}]}}},
])
def test_a_nonsense_query_answer_counts_nothing_and_raises_nothing(answer: dict[str, Any]) -> None:
    assert sum(c.packets + c.bytes for c in _counters(answer).values()) == 0
    assert _rtp_packets(answer) == 0


def test_rtpengine_s_sdp_that_makes_no_sense_is_its_error() -> None:
    for answer in ({"sdp": "nonsense"}, {}, {"sdp": SDP.replace("40056", "0")}):
        with pytest.raises(NgError):
            _ports(answer, 1)


async def test_an_answered_call_whose_packet_count_stops_growing_is_dead() -> None:
    engine = RtpEngine("127.0.0.1", 9, inactivity_timeout=5)
    call = engine.calls["c1"] = EngineCall("c1", "127.0.0.1", {"a": RelayPorts(1, 2), "b": RelayPorts(3, 4)})
    dead: list[str] = []
    engine.on_dead = dead.append
    engine.activate("c1")
    answered = call.moved
    assert not engine._check(call, QUERY)  # packets: the count moved
    call.moved = answered - 4  # as if 4 s had passed since
    assert not engine._check(call, QUERY)
    call.moved = answered - 6  # the same count, 6 s on: silent longer than the timeout
    assert engine._check(call, QUERY)


class SilentNg:
    """An ng client whose commands (those named in ``silent``) never get an answer; the
    others get ``answers[command]``, or a refusal."""

    timeout, attempts = 1.0, 3

    def __init__(self, answers: dict[str, Any], silent: tuple[str, ...] = (), refusal: str = "") -> None:
        self.answers, self.silent, self.refusal = answers, silent, refusal
        self.sent: list[str] = []

    async def request(self, command: str, **fields: Any) -> dict[str, Any]:
        self.sent.append(command)
        if command in self.silent:
            await asyncio.sleep(3600)
        if command in self.answers:
            return self.answers[command]
        raise NgError(self.refusal or f"{command}: no answer from rtpengine (timeout)")


def watched(ng: SilentNg, timeout: float = 5.0) -> tuple[RtpEngine, EngineCall]:
    engine = RtpEngine("127.0.0.1", 9, inactivity_timeout=timeout)
    engine.ng = ng  # type: ignore[assignment]
    call = engine.calls["c1"] = EngineCall("c1", "127.0.0.1", {"a": RelayPorts(1, 2), "b": RelayPorts(3, 4)})
    engine.activate("c1")
    return engine, call


async def test_a_call_rtpengine_no_longer_answers_for_is_dead_after_the_silence_timeout() -> None:
    engine, call = watched(SilentNg({}))
    assert not await engine._query(call)  # no answer yet: rtpengine may be restarting
    call.moved -= 6  # no answer for longer than the timeout: nobody carries its media
    assert await engine._query(call)
    engine.activate("c1", False)  # not answered (or parked on hold by the switch): not judged
    assert not await engine._query(call)


async def test_a_call_rtpengine_forgot_is_dead_at_once() -> None:
    engine, call = watched(SilentNg({}, refusal="Unknown call-id"))
    assert await engine._query(call)


async def test_closing_gives_the_counters_without_waiting_for_the_delete() -> None:
    engine, _ = watched(SilentNg({"query": QUERY}, silent=("delete",)))
    counters = await asyncio.wait_for(engine.close("c1"), 1.0)  # rtpengine deletes it whenever it answers
    assert counters is not None and counters["a"].packets == 236
    assert "c1" not in engine.calls and engine.ng.sent == ["query", "delete"]  # type: ignore[attr-defined]
    for task in list(engine._tasks):
        task.cancel()
    assert engine.close_time == 6.0  # what the service waits at most for a row's counters


def test_a_chained_call_s_keys_are_the_relay_s_to_tell() -> None:
    engine = RtpEngine("127.0.0.1", 9)
    engine.calls["c1"] = EngineCall("c1", "127.0.0.1", {"a": RelayPorts(1, 2), "b": RelayPorts(3, 4)}, chained=True)
    heard: list[tuple[str, str, str]] = []
    engine.on_digit = lambda *key: heard.append(key)
    engine.heard_key({"callid": "c1", "source_tag": "a", "event": 5})  # the relay hears it too, passed on
    assert heard == []


def test_a_key_from_rtpengine_s_dtmf_log_reaches_its_call_and_leg() -> None:
    engine = RtpEngine("127.0.0.1", 9)
    engine.calls["c1"] = EngineCall("c1", "127.0.0.1", {"a": RelayPorts(1, 2), "b": RelayPorts(3, 4)})
    heard: list[tuple[str, str, str]] = []
    engine.on_digit = lambda *key: heard.append(key)
    engine.heard_key({"callid": "c1", "source_tag": "b", "event": 10})
    engine.heard_key({"callid": "c1", "source_tag": "a", "event": 5})
    engine.heard_key({"callid": "other", "source_tag": "a", "event": 5})  # not a call it carries for the switch
    engine.heard_key({"callid": "c1", "source_tag": "x", "event": 5})
    engine.heard_key({"callid": "c1", "source_tag": "a", "event": 99})
    assert heard == [("c1", "b", "*"), ("c1", "a", "5")]


async def test_a_call_whose_opening_is_cancelled_midway_is_deleted_from_rtpengine() -> None:
    engine = RtpEngine("127.0.0.1", 9)
    engine.ng = SilentNg({"offer": {"result": "ok", "sdp": SDP}}, silent=("answer",))  # type: ignore[assignment]
    opening = asyncio.ensure_future(engine.open("c1", parse_sdp(SDP)))
    while engine.ng.sent != ["offer", "answer"]:  # type: ignore[attr-defined]
        await asyncio.sleep(0)
    opening.cancel()  # the switch stopping (or the caller gone) between offer and answer
    try:
        await opening
    except asyncio.CancelledError:
        pass
    await asyncio.wait(engine._tasks, timeout=1)
    assert engine.ng.sent == ["offer", "answer", "delete"] and "c1" not in engine.calls  # type: ignore[attr-defined]


async def test_a_ringing_call_is_said_again_to_rtpengine_as_it_was_and_an_answered_one_not() -> None:
    engine = RtpEngine("127.0.0.1", 9)
    engine.ng = SilentNg({"answer": {"result": "ok"}})  # type: ignore[assignment]
    call = engine.calls["c1"] = EngineCall("c1", "127.0.0.1", {"a": RelayPorts(1, 2), "b": RelayPorts(3, 4)},
                                           sdp={"a": parse_sdp(SDP)})
    assert ringing(call)
    engine._keep_alive(call)
    await asyncio.wait(engine._tasks, timeout=1)
    assert engine.ng.sent == ["answer"]  # type: ignore[attr-defined]
    assert "b" not in call.sdp  # the placeholder was said, not kept as b's session
    engine.activate("c1")
    engine.activate("c1", False)  # answered, then parked: its party's RTP keeps rtpengine's call
    assert not ringing(call)
