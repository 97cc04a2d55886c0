"""The relay under arbitrary traffic: no exceptions, consistent counters, latched
addresses only ever ones that actually sent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.media.relay import Leg, RelaySession

SOURCES = [("10.0.0.1", 4000), ("203.0.113.5", 40000), ("192.0.2.66", 5555)]
packet = st.tuples(
    st.sampled_from(["a", "b"]), st.sampled_from(SOURCES), st.binary(min_size=0, max_size=40),
    st.floats(min_value=0, max_value=5, allow_nan=False), st.booleans(),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(packet, max_size=60))
def test_invariants(packets: list[tuple[str, tuple[str, int], bytes, float, bool]]) -> None:
    s = RelaySession(Leg("a", 10000, ("10.0.0.1", 4000)), Leg("b", 10002, None), 0.0)
    now = 0.0
    seen: dict[str, set[tuple[str, int]]] = {"a": set(), "b": set()}
    forwarded = {"a": 0, "b": 0}
    for leg, source, data, step, rtcp in packets:
        now += step
        seen[leg].add(source)
        if s.on_packet(leg, source, data, now, rtcp=rtcp) is not None:
            forwarded[leg] += 1
    for name, leg in s.legs.items():
        assert leg.latched is None or leg.latched in seen[name]
        assert leg.latched_rtcp is None or leg.latched_rtcp in seen[name]
        assert leg.received.lost >= 0 and leg.received.jitter >= 0
        other = "b" if name == "a" else "a"
        assert s.legs[other].sent_packets == forwarded[name]
    assert s.deadline() == (s.last_packet + s.inactivity_timeout)
