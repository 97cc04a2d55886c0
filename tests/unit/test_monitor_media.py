"""A supervisor on a call (media/monitor.py and the relay's third leg): who hears whom in
each mode, the mixed frames, and the relay forwarding nothing to a mixed leg."""

from __future__ import annotations

import pytest

from softswitch.media.mix import FRAME_BYTES, PCMU, SILENCE, encode
from softswitch.media.monitor import CATCH_UP, MODES, Monitoring, hearing
from softswitch.media.relay import Leg, RelaySession

from ..e2e.audio import power
from .test_media_core import event
from .test_mix import rtp, samples, tone

TONES = {"a": 440.0, "b": 700.0, "m": 1000.0}


@pytest.mark.parametrize("agent", ["a", "b"])
def test_who_hears_whom(agent: str) -> None:
    other = "b" if agent == "a" else "a"
    listen, whisper, barge = (hearing(mode, agent) for mode in MODES)
    assert listen == {agent: {other}, other: {agent}, "m": {"a", "b"}}  # nobody hears the supervisor
    assert whisper == {agent: {other, "m"}, other: {agent}, "m": {"a", "b"}}  # only the agent does
    assert barge == {agent: {other, "m"}, other: {agent, "m"}, "m": {"a", "b"}}


def fed(monitoring: Monitoring, frames: int) -> None:
    """Each leg sends ``frames`` packets of its own tone."""
    for leg, freq in TONES.items():
        audio = tone(freq, frames)
        for i in range(frames):
            monitoring.feed(leg, rtp(i, encode(audio[i * FRAME_BYTES:(i + 1) * FRAME_BYTES], PCMU)))


def heard(frames: list[dict[str, bytes]], leg: str) -> bytes:
    return b"".join(f[leg] for f in frames)


@pytest.mark.parametrize("mode", MODES)
def test_each_mixed_listener_gets_the_tones_it_hears_and_no_other(mode: str) -> None:
    monitoring = Monitoring("b", mode, started=100.0)  # type: ignore[arg-type]
    fed(monitoring, 10)
    frames = monitoring.due(100.0 + 0.020 * 3)  # three periods: at most CATCH_UP at once
    assert len(frames) == 3 and all(f.keys() == monitoring.mixed() for f in frames)
    expected = {"listen": {"m"}, "whisper": {"m", "b"}, "barge": {"m", "a", "b"}}[mode]
    assert monitoring.mixed() == expected
    for leg in expected:
        pcm = samples(heard(frames[1:], leg))  # the first frame waits for the prebuffer
        for source, freq in TONES.items():
            loud = power(pcm, freq) > 1e5
            assert loud == (source in monitoring.hears[leg]), (leg, source, power(pcm, freq))
    assert monitoring.due(100.0 + 0.020 * 3) == []  # nothing owed twice


def test_a_late_timer_sends_a_few_frames_and_lets_the_rest_go() -> None:
    monitoring = Monitoring("a", "barge", started=0.0)
    frames = monitoring.due(1.0)  # 50 periods late
    assert len(frames) == CATCH_UP and monitoring.skipped == 50 - CATCH_UP
    assert all(f[leg] == SILENCE for f in frames for leg in f)  # nobody sent anything
    monitoring.switch("listen")
    assert monitoring.mixed() == {"m"} and monitoring.hears["a"] == {"b"}


def test_the_relay_forwards_nothing_to_a_mixed_leg_and_reads_the_supervisors_keys() -> None:
    relay = RelaySession(Leg("a", 10000, ("192.0.2.1", 4000)), Leg("b", 10002, ("192.0.2.2", 4000)), 0.0)
    relay.add_leg(Leg("m", 10004, ("192.0.2.3", 4000)))
    relay.set_events("m", 101)
    assert relay.on_packet("a", ("192.0.2.1", 4000), rtp(1, bytes(160)), 0.1) == ("192.0.2.2", 4000)
    relay.legs["b"].mixed = True  # whisper: the agent (b) hears a mix
    assert relay.on_packet("a", ("192.0.2.1", 4000), rtp(2, bytes(160)), 0.12) is None and relay.legs["b"].muted == 1
    assert relay.on_packet("b", ("192.0.2.2", 4000), rtp(1, bytes(160)), 0.12) == ("192.0.2.1", 4000)
    assert relay.hear("m", ("192.0.2.3", 4000), event(1, 800, 5), 0.14)
    assert relay.digits == [("m", "5")] and relay.legs["m"].received.packets == 1
    assert not relay.hear("m", ("192.0.2.9", 4000), rtp(2, bytes(160)), 0.15)  # a stray
    assert relay.legs["a"].events == {101}
    assert relay.remove_leg("m") is not None and relay.legs.keys() == {"a", "b"} and relay.legs["a"].events == frozenset()
    assert relay.remove_leg("a") is None
