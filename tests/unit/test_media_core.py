"""The RTP port pool and the relay's decisions, with time stepped by hand."""

from __future__ import annotations

import pytest

from softswitch.media.ports import PortPool, PortsExhausted
from softswitch.media.relay import Leg, RelaySession, StreamStats

PHONE_A_SDP = ("192.168.1.20", 7078)  # private: behind NAT
PHONE_A_REAL = ("203.0.113.5", 40000)  # where its packets really come from
PHONE_B_SDP = ("198.51.100.9", 11800)


def rtp(seq: int, ts: int, pt: int = 0, size: int = 172) -> bytes:
    header = bytes([0x80, pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + (0x1234).to_bytes(4, "big")
    return header + b"\xff" * (size - 12)


def session() -> RelaySession:
    return RelaySession(Leg("a", 10000, PHONE_A_SDP), Leg("b", 10002, PHONE_B_SDP), 0.0, inactivity_timeout=60)


def test_pool_gives_even_ports_and_does_not_reuse_at_once() -> None:
    pool = PortPool(10001, 10010)
    ports = [pool.allocate() for _ in range(4)]
    assert ports == [10002, 10004, 10006, 10008]
    with pytest.raises(PortsExhausted):
        pool.allocate()
    pool.release(10004)
    pool.release(10002)
    assert pool.allocate() == 10004  # first freed, first reused
    assert pool.counters.allocated == 5 and pool.counters.released == 2 and pool.counters.in_use == 3
    with pytest.raises(ValueError):
        pool.release(10002)
    with pytest.raises(ValueError):
        PortPool(80, 90)


def test_pool_holds_no_more_pairs_in_use_than_its_size() -> None:
    pool = PortPool(10000, 10020)  # ten pairs in the range
    pool.size = 3  # what the open files allow (openfiles.py)
    ports = [pool.allocate() for _ in range(3)]
    assert pool.free == 0
    with pytest.raises(PortsExhausted, match="all 3 RTP port pairs"):
        pool.allocate()
    pool.release(ports[1])
    assert pool.free == 1
    assert pool.allocate() not in ports  # a port not used lately, not the one just released


def test_latching_learns_the_nat_address() -> None:
    s = session()
    # B speaks first: A has not latched, so its SDP address is all we know.
    assert s.on_packet("b", PHONE_B_SDP, rtp(1, 160), 0.01) == PHONE_A_SDP
    # A's first packet comes from its public address: latched, and sent on to B.
    assert s.on_packet("a", PHONE_A_REAL, rtp(1, 160), 0.02) == PHONE_B_SDP
    # Now B's audio goes where A really is: both directions heard.
    assert s.on_packet("b", PHONE_B_SDP, rtp(2, 320), 0.03) == PHONE_A_REAL


def test_other_sources_are_ignored_once_latched() -> None:
    s = session()
    s.on_packet("a", PHONE_A_REAL, rtp(1, 160), 0.0)
    assert s.on_packet("a", ("192.0.2.66", 5555), rtp(99, 9999), 0.5) is None
    assert s.legs["a"].strays == 1 and s.legs["a"].latched == PHONE_A_REAL
    # ... unless the latched phone went silent (it moved to another network).
    assert s.on_packet("a", ("192.0.2.77", 6000), rtp(2, 320), 3.0) == PHONE_B_SDP
    assert s.legs["a"].latched == ("192.0.2.77", 6000)


def test_nowhere_to_send_is_counted() -> None:
    s = RelaySession(Leg("a", 10000, None), Leg("b", 10002, None), 0.0)
    assert s.on_packet("a", PHONE_A_REAL, rtp(1, 160), 0.0) is None
    assert s.legs["a"].undeliverable == 1


def test_rtcp_latches_separately_and_defaults_to_rtp_port_plus_one() -> None:
    s = session()
    rtcp = bytes([0x81, 200]) + b"\x00" * 26
    assert s.on_packet("a", ("203.0.113.5", 40001), rtcp, 0.0, rtcp=True) == (PHONE_B_SDP[0], PHONE_B_SDP[1] + 1)
    assert s.legs["a"].latched_rtcp == ("203.0.113.5", 40001) and s.legs["a"].latched is None
    assert s.legs["a"].rtcp_packets == 1


def test_loss_and_jitter() -> None:
    s = session()
    now = 0.0
    for seq in range(1, 101):
        if seq == 50:
            continue  # one packet lost
        s.on_packet("a", PHONE_A_REAL, rtp(seq, seq * 160), now + seq * 0.02)
    stats = s.legs["a"].received
    assert stats.packets == 99 and stats.expected == 100 and stats.lost == 1
    assert stats.jitter_ms < 0.01  # perfectly paced
    assert stats.bytes == 99 * 172


def test_jitter_grows_with_uneven_arrival() -> None:
    stats = StreamStats()
    for i in range(200):
        wobble = 0.005 if i % 2 else 0.0
        stats.update(i, i * 160, i * 0.02 + wobble, 172)
    assert 3.0 < stats.jitter_ms < 6.0  # RFC 3550 A.8 converges near the 5 ms swing


def test_sequence_wrap_is_not_loss() -> None:
    stats = StreamStats()
    for i, seq in enumerate([65534, 65535, 0, 1, 2]):
        stats.update(seq, i * 160, i * 0.02, 172)
    assert stats.expected == 5 and stats.lost == 0 and stats.cycles == 1 << 16


def test_late_and_duplicate_packets_do_not_count_as_progress() -> None:
    stats = StreamStats()
    for i, seq in enumerate([10, 11, 13, 12, 13]):
        stats.update(seq, i * 160, i * 0.02, 172)
    assert stats.max_seq == 13 and stats.expected == 4 and stats.lost == 0


def test_inactivity_deadline_moves_with_traffic() -> None:
    s = session()
    assert s.deadline() == 60.0 and not s.is_dead(59.9)
    s.on_packet("a", PHONE_A_REAL, rtp(1, 160), 30.0)
    assert s.deadline() == 90.0 and s.is_dead(90.0)


def test_non_rtp_payload_is_relayed_without_stats() -> None:
    s = session()
    assert s.on_packet("a", PHONE_A_REAL, b"\x00\x01", 0.0) == PHONE_B_SDP
    assert s.legs["a"].received.packets == 1 and s.legs["a"].received.expected == 0


def event(seq: int, ts: int, key: int, end: bool = False, marker: bool = False, pt: int = 101,
          csrc: int = 0, extension: bool = False) -> bytes:
    """An RFC 4733 telephone-event packet (§2.3), with optional CSRCs and header extension."""
    first = 0x80 | (0x10 if extension else 0) | csrc
    head = bytes([first, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + b"\x00\x00\x00\x01"
    head += b"\x00\x00\x00\x02" * csrc
    if extension:
        head += b"\xbe\xde\x00\x01" + b"\x00\x00\x00\x00"
    return head + bytes([key, (0x80 if end else 0) | 10]) + (800).to_bytes(2, "big")


def test_keys_pressed_are_read_from_telephone_events_once_each() -> None:
    s = session()
    s.set_events("a", 101)
    s.set_events("b", 96)  # the other phone's number counts too: phones send with either
    assert s.legs["a"].events == frozenset({96, 101})
    # '*': marked first packet, continuation, three end packets (same timestamp): one key.
    packets = [event(1, 800, 10, marker=True), event(2, 800, 10), *[event(3, 800, 10, end=True)] * 3]
    # '8' without any marker bit (the marked packet was lost), with CSRCs and an extension header.
    packets += [event(4, 1600, 8, csrc=2), event(5, 1600, 8, end=True, extension=True)]
    # '5' then '5' again: a new event (new timestamp) is a new key; sent with the peer's pt 96.
    packets += [event(6, 2400, 5, pt=96), event(7, 2400, 5, pt=96, end=True), event(8, 3200, 5, pt=96)]
    for p in packets:
        assert s.on_packet("a", PHONE_A_SDP, p, 100.0) is not None  # still relayed to the other phone
    assert s.digits == [("a", "*"), ("a", "8"), ("a", "5"), ("a", "5")]
    # Not a telephone-event payload type, too short, or an event beyond the DTMF keys: no key.
    s.digits.clear()
    for p in (rtp(9, 4000, pt=0), event(10, 4800, 3)[:14], event(11, 5600, 20)):
        s.on_packet("a", PHONE_A_SDP, p, 100.1)
    assert s.digits == []
    s.set_events("a", None)
    s.set_events("b", None)
    s.on_packet("a", PHONE_A_SDP, event(12, 6400, 1), 100.2)
    assert s.digits == [] and s.legs["b"].events == frozenset()


def test_a_deaf_leg_hears_nothing_and_a_key_is_passed_on_whole_or_not_at_all() -> None:
    """A member of an external group who has not pressed 1 yet: the caller (a) must not hear it.
    Its key 1 starts while a is deaf; a hears again from the second packet on, but not the rest
    of that key (half a key would be a key press to the caller's side).  The next key is whole."""
    s = session()
    s.set_events("b", 101)
    s.legs["a"].deaf = True
    assert s.on_packet("b", PHONE_B_SDP, rtp(1, 160), 100.0) is None  # a voicemail greeting
    assert s.on_packet("b", PHONE_B_SDP, event(2, 800, 1, marker=True), 100.02) is None
    assert s.digits == [("b", "1")]
    s.legs["a"].deaf = False  # the member pressed 1: put through
    assert [s.on_packet("b", PHONE_B_SDP, event(n, 800, 1, end=n > 3), 100.02 + n / 50) for n in (3, 4, 5)] == [None] * 3
    assert s.on_packet("b", PHONE_B_SDP, rtp(6, 1760), 100.2) == PHONE_A_SDP  # voice again
    assert s.on_packet("b", PHONE_B_SDP, event(7, 1920, 2, marker=True), 100.22) == PHONE_A_SDP  # a new key, whole
    assert s.on_packet("b", PHONE_B_SDP, event(8, 1920, 2, end=True), 100.24) == PHONE_A_SDP
    assert s.legs["a"].muted == 5


PHONE_C_SDP = ("198.51.100.30", 12000)


def test_a_late_packet_from_a_phone_that_left_does_not_take_its_leg_back() -> None:
    """B parks A and leaves (its leg is detached); a packet B sent before it handled the BYE
    arrives after: it is a stray, and A's audio is not sent after B.  C picks up: its SDP
    names a new address, so it is where A's audio goes and C's first packet takes the latch,
    and B's packets still arriving do not."""
    s = session()
    s.on_packet("b", PHONE_B_SDP, rtp(1, 160), 0.0)
    s.on_packet("a", PHONE_A_REAL, rtp(1, 160), 0.01)
    s.legs["b"].detach(0.02)
    assert s.on_packet("b", PHONE_B_SDP, rtp(2, 320), 0.03) is None  # late, from the parker gone
    assert s.legs["b"].strays == 1 and s.legs["b"].latched is None
    assert s.on_packet("a", PHONE_A_REAL, rtp(2, 320), 0.04) is None  # parked: nobody to send to
    s.legs["b"].announce(PHONE_C_SDP, 0.45)  # C picked up
    assert s.on_packet("a", PHONE_A_REAL, rtp(3, 480), 0.5) == PHONE_C_SDP
    assert s.on_packet("b", PHONE_B_SDP, rtp(3, 480), 0.51) is None  # still the parker: not C
    assert s.on_packet("b", ("203.0.113.30", 41000), rtp(1, 160), 0.52) == PHONE_A_REAL  # C, from behind its NAT
    assert s.on_packet("a", PHONE_A_REAL, rtp(4, 640), 0.53) == ("203.0.113.30", 41000)


def test_the_phone_that_left_may_come_back_later() -> None:
    """A transfer that fails gives the transferee back to the transferor, seconds later."""
    s = session()
    s.on_packet("b", PHONE_B_SDP, rtp(1, 160), 0.0)
    s.legs["b"].detach(0.1)
    s.legs["b"].announce(PHONE_B_SDP, 20.0)
    assert s.on_packet("b", PHONE_B_SDP, rtp(2, 320), 20.02) == PHONE_A_SDP and s.legs["b"].latched == PHONE_B_SDP


def test_a_phone_announcing_the_departed_address_is_heard_at_once() -> None:
    """An external group's first member (a voicemail) is given up on; the next member comes
    through the same provider gateway, from the same media address, and presses 1 within a
    second: its key is not a stray of the member that left."""
    s = session()
    s.on_packet("b", PHONE_B_SDP, rtp(1, 160), 0.0)
    s.legs["b"].detach(3.0)
    s.legs["b"].announce(PHONE_B_SDP, 3.2)
    assert s.on_packet("b", PHONE_B_SDP, rtp(1, 160), 3.3) == PHONE_A_SDP and s.legs["b"].strays == 0


def test_a_new_address_for_the_same_leg_resets_the_latch_but_the_same_one_keeps_it() -> None:
    s = session()
    s.on_packet("a", PHONE_A_REAL, rtp(1, 160), 0.0)
    s.legs["a"].announce(PHONE_A_SDP, 0.05)  # a session refresh: the same SDP address, the NAT latch stays
    assert s.legs["a"].latched == PHONE_A_REAL
    s.legs["a"].announce(("192.168.1.20", 7090), 0.06)  # its new session: a new port
    assert s.legs["a"].latched is None
    assert s.on_packet("a", ("203.0.113.5", 40002), rtp(2, 320), 0.1) == PHONE_B_SDP  # latched at once


def test_another_phone_on_a_leg_is_a_new_source_and_not_counted_as_loss() -> None:
    """B transfers A to C: C's sequence numbers have nothing to do with B's, so the leg's
    statistics go on from what was expected of B (RFC 3550 keeps them per source); a gap in
    C's own stream is still loss."""
    s = session()
    for seq in range(100, 150):
        s.on_packet("b", PHONE_B_SDP, rtp(seq, seq * 160), seq * 0.02)
    s.legs["b"].announce(PHONE_C_SDP, 3.0)
    for seq in (30000, 30001, 30003):  # C's stream, one packet lost
        assert s.on_packet("b", PHONE_C_SDP, rtp(seq, seq * 160), 3.0 + seq * 1e-6) is not None
    stats = s.legs["b"].received
    assert stats.packets == 53 and stats.expected == 54 and stats.lost == 1
