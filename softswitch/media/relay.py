"""The media relay's decisions for one call (pure; the asyncio endpoint only forwards).

Theory of operation
-------------------
A call's media has two legs, A and B; each leg has a port pair on the switch, and the
address its SDP announced.  A packet arriving on leg A's port comes from A's phone
and goes to B's phone, and the other way round.  Where to send is learned from the
traffic (symmetric RTP latching): the first packet on a leg's port fixes that leg's
real address, which behind NAT is not the one in the SDP, and afterwards packets
from any other source are ignored and counted, so nobody can inject audio into a
call.  A latched phone that has been silent for ``relatch_after`` seconds may be
re-learned (a phone that roamed to another network).  Until a leg has latched, its
packets go to the address its SDP gave.

On the hot path the relay reads only the RTP fixed header's sequence number and
timestamp (RFC 3550 §5.1) to keep per-leg counters: packets and bytes in and out,
loss from the extended highest sequence number (§A.3) and interarrival jitter (§A.8).
RTCP (and anything that is not RTP version 2) is relayed the same way and counted,
without statistics.  ``deadline()`` is when the call counts as dead: no packet in
either direction for ``inactivity_timeout`` seconds.

Key presses travel as RFC 4733 telephone-events, relayed like any packet.  On the
payload types the call's SDP named for them (``set_events``) the relay also reads
the event code and notes each new key in ``digits`` for the B2BUA to collect.  A key
is one event (its RTP timestamp and code): its first packet reports it, marker bit or
not (the marked packet may be lost, and some phones never mark), and the packets that
follow, the three end packets included, are the same key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

Address = tuple[str, int]
_SEQ_TS = struct.Struct("!HI")  # an RTP header's sequence number and timestamp, from its third octet
_VOICE = (-2, False)  # what ``_receive`` says of a voice packet (its payload type is not a key's: no matter which)
_RTCP = (-1, False)
_NOT_RTP = (72, False)
KEYS = "0123456789*#ABCD"  # RFC 4733 §3.2: DTMF events 0-15


@dataclass
class StreamStats:
    """RFC 3550 receiver statistics for one direction of one leg."""

    clock_rate: int = 8000
    packets: int = 0
    bytes: int = 0
    base_seq: int | None = None
    max_seq: int = 0
    cycles: int = 0
    jitter: float = 0.0  # in timestamp units
    earlier_expected: int = 0  # of the sources this leg had before its current one
    _transit: float | None = None

    def update(self, seq: int, timestamp: int, arrival: float, size: int) -> None:
        self.packets += 1
        self.bytes += size
        if self.base_seq is None:
            self.base_seq = self.max_seq = seq
        else:
            delta = (seq - self.max_seq) & 0xFFFF
            if 0 < delta < 0x8000:  # in order (possibly with a gap)
                if seq < self.max_seq:
                    self.cycles += 1 << 16
                self.max_seq = seq
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            # Timestamps wrap at 2**32; a jump that large is a wrap, not jitter.
            if d < 2**31:
                self.jitter += (d - self.jitter) / 16
        self._transit = transit

    def new_source(self) -> None:
        """Another phone's stream on this leg from now on (a transfer, a pick-up, a phone that
        roamed): its sequence numbers start anew, so what was expected of the last one is kept
        and the count starts again (RFC 3550: statistics are per source)."""
        self.earlier_expected = self.expected
        self.base_seq, self.max_seq, self.cycles, self._transit = None, 0, 0, None

    @property
    def expected(self) -> int:
        if self.base_seq is None:
            return self.earlier_expected
        return self.earlier_expected + self.cycles + self.max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.packets)

    @property
    def jitter_ms(self) -> float:
        return 1000.0 * self.jitter / self.clock_rate


@dataclass
class Leg:
    name: str
    port: int  # our RTP port for this leg (RTCP: port + 1, unless rtcp-mux)
    announced: Address | None  # what the leg's SDP said
    latched: Address | None = None
    latched_rtcp: Address | None = None
    last_seen: float | None = None
    received: StreamStats = field(default_factory=StreamStats)
    rtcp_packets: int = 0
    sent_packets: int = 0
    strays: int = 0  # packets from a source other than the latched one
    undeliverable: int = 0  # the other leg had nowhere to send to yet
    playing: bool = False  # the switch plays a sound to this leg's phone: the other leg is not heard
    deaf: bool = False  # this leg's phone must not hear the other leg yet (a member who has not pressed 1)
    mixed: bool = False  # this leg's phone hears a mix the switch makes (a supervisor whispers): nothing is forwarded to it
    muted: int = 0  # packets for this leg dropped while it was played to, or deaf
    events: frozenset[int] = frozenset()  # RFC 4733 payload types this leg's phone may send
    last_event: tuple[int, int] | None = None  # (RTP timestamp, event code) of the last key
    event_dropped: bool = False  # the last key's first packet was not passed on: nor is the rest of it
    detached: bool = False  # nobody is on this leg (a parker gone): what still arrives is a stray
    # Where the phone that left this leg sent from, and when it left: what it sent before it
    # heard its BYE (a round trip) is not taken as the leg's new phone.
    departed: Address | None = None
    departed_rtcp: Address | None = None
    departed_announced: Address | None = None
    departed_at: float = 0.0

    def detach(self, now: float) -> None:
        """The phone on this leg left (a parked call's parker): forget where it was."""
        self._forget(now)
        self.announced = None
        self.detached = True

    def announce(self, address: Address, now: float) -> None:
        """The leg's SDP names where its phone receives RTP.  A new address (another phone on
        the leg, or a new session) resets the latch, so the first packet of that phone takes
        it; the same address again (a session refresh) keeps a NAT latch as it is.  A phone
        announcing the address the departed one used (it came back, or the provider's media
        gateway took the next call on the same port) is that address's phone from now on."""
        if address != self.announced:
            self._forget(now)
        if address in (self.departed, self.departed_announced):
            self.departed = self.departed_rtcp = self.departed_announced = None
        self.announced = address
        self.detached = False

    def _forget(self, now: float) -> None:
        if self.latched is not None or self.latched_rtcp is not None:
            self.departed, self.departed_rtcp, self.departed_at = self.latched, self.latched_rtcp, now
            self.departed_announced = self.announced
        self.latched = self.latched_rtcp = None
        self.last_seen = None

    def left_lately(self, source: Address, now: float, rtcp: bool, window: float) -> bool:
        """``source`` is the phone that left this leg less than ``window`` seconds ago."""
        return now - self.departed_at < window and source == (self.departed_rtcp if rtcp else self.departed)

    def target(self, rtcp: bool) -> Address | None:
        if rtcp:
            if self.latched_rtcp is not None:
                return self.latched_rtcp
            if self.announced is not None:
                return (self.announced[0], self.announced[1] + 1)
            return None
        return self.latched or self.announced


class RelaySession:
    def __init__(
        self, a: Leg, b: Leg, now: float, *, inactivity_timeout: float = 60.0, relatch_after: float = 2.0,
    ) -> None:
        self.legs = {"a": a, "b": b}
        self.started = now
        self.last_packet = now
        self.inactivity_timeout = inactivity_timeout
        self.relatch_after = relatch_after
        self.digits: list[tuple[str, str]] = []  # (leg, key) pressed, for the B2BUA to take
        self._event_pts: dict[str, int | None] = {}

    def set_events(self, leg: str, pt: int | None) -> None:
        """The telephone-event payload type in the SDP of the phone on ``leg``.  Phones send
        events with their own number or their peer's, so either counts on both legs."""
        self._event_pts[leg] = pt
        self._share_events()

    def _share_events(self) -> None:
        every = frozenset(p for p in self._event_pts.values() if p is not None)
        for each in self.legs.values():
            each.events = every

    def add_leg(self, leg: Leg) -> None:
        """A leg beside the two parties (a supervisor's): nothing is forwarded from it (``hear``)."""
        self.legs[leg.name] = leg
        self._share_events()

    def remove_leg(self, name: str) -> Leg | None:
        leg = self.legs.pop(name, None) if name not in ("a", "b") else None
        self._event_pts.pop(name, None)
        self._share_events()
        return leg

    def other(self, leg: str) -> Leg:
        return self.legs["b" if leg == "a" else "a"]

    def on_packet(self, leg: str, source: Address, data: bytes, now: float, *, rtcp: bool = False) -> Address | None:
        """A packet arrived on ``leg``'s port from ``source``: where to forward it, or None."""
        legs = self.legs
        me = legs[leg]
        got = self._receive(me, source, data, now, rtcp)
        if got is None:
            return None
        self.last_packet = now
        peer = legs["b" if leg == "a" else "a"]
        if got is _VOICE and not (peer.playing or peer.deaf or peer.mixed):  # nearly every packet
            destination = (peer.latched or peer.announced) if not rtcp else peer.target(True)
        else:
            pt, key_tail = got
            if key_tail and me.event_dropped:  # a key is passed on whole or not at all
                peer.muted += 1
                return None
            if peer.playing or peer.deaf or peer.mixed:
                peer.muted += 1
                if pt in me.events:
                    me.event_dropped = True
                return None
            if pt in me.events and not key_tail:
                me.event_dropped = False
            destination = peer.target(rtcp)
        if destination is None:
            me.undeliverable += 1
            return None
        peer.sent_packets += 1
        return destination

    def hear(self, leg: str, source: Address, data: bytes, now: float, *, rtcp: bool = False) -> bool:
        """A packet on a leg the relay forwards nothing from (a supervisor's, only ever heard
        mixed): latched, counted and its keys noted as any leg's; False for a stray."""
        return self._receive(self.legs[leg], source, data, now, rtcp) is not None  # not ``last_packet``: its
        # packets do not keep a call whose parties are gone alive

    def _receive(self, me: Leg, source: Address, data: bytes, now: float, rtcp: bool) -> tuple[int, bool] | None:
        """Latch, count and read keys: (payload type, whether it is the rest of a key), or
        None for a packet from nobody the leg listens to.  A voice packet (no key) from
        the latched phone, on its RTP port, is ``_VOICE``: the hot path."""
        if me.detached or ((me.departed_rtcp if rtcp else me.departed) is not None
                           and me.left_lately(source, now, rtcp, self.relatch_after)):
            me.strays += 1  # for nobody, or late from the phone that left this leg
            return None
        if rtcp:
            if me.latched_rtcp is None or me.latched_rtcp == source or self._may_relatch(me, now):
                me.latched_rtcp = source
            elif me.latched_rtcp != source:
                me.strays += 1
                return None
            me.rtcp_packets += 1
            me.last_seen = now
            return _RTCP
        latched = me.latched
        if latched != source:
            if latched is None or self._may_relatch(me, now):
                me.received.new_source()
                me.latched = source
            else:
                me.strays += 1
                return None
        me.last_seen = now
        if len(data) < 12 or data[0] >> 6 != 2:
            me.received.packets += 1
            me.received.bytes += len(data)
            return _NOT_RTP
        pt = data[1] & 0x7F
        if 72 <= pt <= 76:  # RTCP sent to the RTP port (rtcp-mux, RFC 5761 §4)
            me.received.packets += 1
            me.received.bytes += len(data)
            return pt, False
        seq, timestamp = _SEQ_TS.unpack_from(data, 2)
        me.received.update(seq, timestamp, now, len(data))
        if pt in me.events:
            return pt, not self._key(me, data, timestamp)
        return _VOICE

    def _key(self, me: Leg, data: bytes, timestamp: int) -> bool:
        """Note a new key (True), or see the rest of the last one (False)."""
        offset = 12 + 4 * (data[0] & 0x0F)  # past the CSRC list
        if data[0] & 0x10 and len(data) >= offset + 4:  # and a header extension (RFC 3550 §5.3.1)
            offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
        if len(data) < offset + 4:
            return False
        event = data[offset]
        if event > 15 or (timestamp, event) == me.last_event:
            return False
        me.last_event = (timestamp, event)
        self.digits.append((me.name, KEYS[event]))
        return True

    def _may_relatch(self, leg: Leg, now: float) -> bool:
        return leg.last_seen is not None and now - leg.last_seen >= self.relatch_after

    def deadline(self) -> float:
        return self.last_packet + self.inactivity_timeout

    def is_dead(self, now: float) -> bool:
        return now >= self.deadline()
