"""Load shedding: whether a new call is admitted, or refused with ``503`` and a
``Retry-After`` before anything is spent on it (SPEC "What bad input gets"; RFC 3261
§21.5.4; the spread of retries after RFC 7339's reasoning, without its headers).

Theory of operation
-------------------
Checked for each new INVITE (from a phone or a trunk) before it is routed or given relay
ports; requests inside dialogs, REGISTERs and the calls already up are never shed:

  * **its own wait**, for an INVITE over UDP: how long it waited in the kernel before the
    switch read it (the kernel's arrival stamp).  Past ``max_delay`` it is refused, while the
    smoothed delay below is over half of ``max_delay`` (one stall, a collection of the garbage
    collector, refuses nothing), but for ``MIN_RATE`` calls/s that always get through.  Each
    INVITE is judged by what it met, at once: the queue stays near ``max_delay`` whatever the
    flood, the core stays busy with the calls it took, and nothing has to learn the rate the
    switch can take (an estimate that lags: the work of a call admitted comes over the next
    seconds, its ACK and BYE).  A rate ceiling learnt from the smoothed delay, as below, was
    the only check before; at 5x what the switch sustains it started too low or too high
    with the flood's first half second (0.74-0.89 of the sustained rate completed in three
    runs, 2026-12-08), and once let the queue reach 1.5 s: INVITEs retransmitted, 277 calls
    failed, calls left over;
  * **the delay** a request waits before it is handled (``observe``, every 50 ms from the
    edge, ``load.py``): the longest the requests just read waited in the kernel, or, if
    longer, how long the datagrams waiting there would take to read at the rate they were
    just read (``queue_delay``, scaled by the ratio of measured to foreseen waits learnt so
    far, ``QueueBias``: the kernel counts their buffers' true size, several times their
    bytes), smoothed over the last few observations so that one stall (a collection
    of the garbage collector, a slow disk write) is not taken for overload.  Past ``max_delay``
    the switch is behind, and an *adaptive ceiling* on new calls
    per second starts at 80 % of the rate it was admitting, and is cut by 15 % again at
    most every ``hold`` / 4 seconds while the delay stays too long *and has not fallen since
    the last cut*: a backlog takes a while to drain, and the calls admitted before the cut
    still send their ACKs and BYEs, so a delay that is falling already needs no deeper cut
    (cutting on it took the ceiling to a fifth of what the switch could take).  While the
    delay is under half of ``max_delay`` the ceiling grows by a quarter of itself per second (so
    it settles around what the switch can take rather than refusing everything for a while
    and then taking everything again: faster growth overshoots, as the load of the calls it
    admits comes over the next seconds), and it is lifted once nothing was shed for
    ``hold`` seconds.  The ceiling applies to INVITEs whose wait is not known (over TCP, TLS
    or WebSocket, or where the kernel does not stamp), and being behind also sheds new
    registrations (``registration``).  Both are checked before the
    INVITE is even authenticated, so both INVITEs of a challenge round count;
  * **relay ports**: fewer than ``port_reserve`` free pairs left: calls already up keep
    the rest (a transfer or a pick-up needs none, a ring-back none), new ones are shed
    before the pool runs dry;
  * **the configured call rate** (``rate``): a token bucket holding ``max_call_rate`` tokens
    (one second's worth), refilled at that rate (``0``: no ceiling), checked once per call
    about to be set up (a phone's INVITE once authenticated).

A shed call's ``Retry-After`` is drawn uniformly from ``retry_after`` by the injected
``pick`` so that phones and providers refused together do not all come back together.
Pure: time comes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MIN_RATE = 5.0  # calls/s the adaptive ceiling never goes below: some calls always get through
CUT = 0.85  # the ceiling's multiplicative decrease
GROWTH = 0.25  # the ceiling's increase per second, as a share of itself (at least GROWTH_MIN calls/s)
START = 0.8  # the ceiling when the switch falls behind, as a share of the rate it was admitting
GROWTH_MIN = 10.0
SMOOTHING = 0.2  # each observation's weight in the delay that counts: one stall (a GC pause) is not overload


@dataclass(frozen=True, slots=True)
class Shedding:
    """The thresholds (the config's ``overload`` section)."""

    max_call_rate: float = 0.0  # new calls per second; 0: no ceiling
    max_delay: float = 0.25  # seconds
    hold: float = 2.0  # seconds without a shed call before the adaptive ceiling is lifted
    port_reserve: int = 20  # relay port pairs kept for calls already up
    retry_after: tuple[int, int] = (5, 20)  # seconds, the range a Retry-After is drawn from


@dataclass(frozen=True, slots=True)
class Shed:
    """A new call refused: why (a counter's name) and the ``Retry-After`` to send."""

    why: str  # "delay", "ports" or "rate"
    retry_after: int
    reason: str  # the 503's reason phrase


@dataclass
class Bucket:
    """Tokens refilled at ``rate`` per second up to ``depth``."""

    tokens: float = 0.0
    refilled: float | None = None

    def take(self, now: float, rate: float, depth: float) -> bool:
        if self.refilled is None:
            self.tokens = depth
        else:
            self.tokens = min(depth, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class Admission:
    settings: Shedding
    pick: Callable[[int, int], int]  # e.g. random.randint
    delay: float = 0.0
    ceiling: float | None = None  # the adaptive ceiling (calls/s) while behind; None: none
    admitting: float = 0.0  # calls/s passed lately (smoothed)
    shed: dict[str, int] = field(default_factory=lambda: {"delay": 0, "ports": 0, "rate": 0, "registrations": 0})
    _passed: int = 0  # since the last observation
    _observed: float | None = None
    _cut: float | None = None  # when the ceiling was last cut
    _cut_delay: float = 0.0  # the (smoothed) delay then
    _last_shed: float | None = None
    _now: float = 0.0
    _adaptive: Bucket = field(default_factory=Bucket)
    _floor: Bucket = field(default_factory=Bucket)  # the calls that get through whatever they waited
    _gated: int = 0  # INVITEs refused for their own wait since the last observation
    _configured: Bucket = field(default_factory=Bucket)

    @property
    def overloaded(self) -> bool:
        return self.ceiling is not None

    def observe(self, delay: float, now: float) -> None:
        """How long a request arriving now would wait before it is handled (seconds)."""
        dt = now - self._observed if self._observed is not None else 0.0
        if dt > 0:
            self.admitting += (self._passed / dt - self.admitting) * min(1.0, dt / 0.5)  # ~0.5 s smoothing
        self._observed, self._passed, self._now = now, 0, now
        self.delay += (delay - self.delay) * SMOOTHING
        delay = self.delay
        limit, hold = self.settings.max_delay, self.settings.hold
        gated, self._gated = self._gated, 0
        if delay > limit:
            if self.ceiling is None or self._cut is None:
                self.ceiling, self._cut, self._cut_delay = max(MIN_RATE, self.admitting * START), now, delay
            elif not gated and now - self._cut >= hold / 4 and delay >= self._cut_delay:
                # (While INVITEs are refused for their own wait, that holds the delay near
                # max_delay, not the ceiling: cutting it would only starve the calls it governs.)
                self.ceiling, self._cut, self._cut_delay = max(MIN_RATE, self.ceiling * CUT), now, delay
        elif self.ceiling is not None:
            if delay < limit / 2:
                self.ceiling += max(GROWTH_MIN, self.ceiling * GROWTH) * dt
            quiet_since = self._last_shed if self._last_shed is not None else self._cut
            if quiet_since is None or now - quiet_since >= hold:
                self.ceiling = None

    def pressure(self, now: float, free_ports: int, waited: float | None = None) -> Shed | None:
        """Checked first for every new INVITE: it waited longer than ``max_delay`` (``waited``,
        seconds: its time in the kernel's queue; None when not known), or, its wait not known,
        the adaptive ceiling while the switch is behind; or the port reserve reached.  None: go
        on.  Else the 503 to send (counted)."""
        self._now = max(self._now, now)
        if waited is not None:
            # Not for one stall (a collection of the garbage collector, a busy neighbour): only
            # while the smoothed delay says the switch is behind; and MIN_RATE calls/s get through.
            if waited > self.settings.max_delay and self.delay > self.settings.max_delay / 2 \
                    and not self._floor.take(now, MIN_RATE, 1.0):
                self._gated += 1
                return self._shed("delay", "Overloaded")
        elif self.ceiling is not None and not self._adaptive.take(now, self.ceiling, max(1.0, self.ceiling / 10)):
            return self._shed("delay", "Overloaded")
        if free_ports < self.settings.port_reserve:
            return self._shed("ports", "No Media Ports")
        self._passed += 1
        return None

    def rate(self, now: float) -> Shed | None:
        """Checked once per call about to be set up (a phone's INVITE once authenticated, so
        its challenge round does not count twice; a trunk's at once): the configured bucket."""
        rate = self.settings.max_call_rate
        if rate <= 0 or self._configured.take(now, rate, rate):
            return None
        return self._shed("rate", "Call Rate Exceeded")

    def registration(self) -> Shed | None:
        """A REGISTER that would start a registration (no credentials yet, no binding of its
        Call-ID to refresh): shed while the switch is behind and the delay is over half of
        ``max_delay``, so that a storm of phones re-registering after an outage is answered
        in time or told to come back (at a random time) rather than answered seconds late.
        Refreshes and the second, authenticated request of a registration are never shed."""
        if self.ceiling is None or self.delay <= self.settings.max_delay / 2:
            return None
        self.shed["registrations"] += 1
        low, high = self.settings.retry_after
        return Shed("registrations", self.pick(low, high), "Overloaded")

    def admit(self, now: float, free_ports: int) -> Shed | None:
        """Both checks at once."""
        return self.pressure(now, free_ports) or self.rate(now)

    def _shed(self, why: str, reason: str) -> Shed:
        self.shed[why] += 1
        self._last_shed = self._now
        low, high = self.settings.retry_after
        return Shed(why, self.pick(low, high), reason)

    def configure(self, settings: Shedding) -> None:
        """New thresholds (a reloaded config); the configured bucket refills to the new ceiling."""
        if settings != self.settings:
            self.settings, self._configured = settings, Bucket()


@dataclass
class QueueBias:
    """How far ``queue_delay`` overstates the wait: the kernel counts each queued datagram's
    buffer, several times its bytes (bench_overload: 692 ms foreseen, 105 ms measured).  Where
    both are known (datagrams read, more waiting) the measured/foreseen ratio is learnt, so that
    the scaled estimate still warns of a growing queue before its requests are read, at about
    its true size."""

    ratio: float = 1.0
    smoothing: float = 0.1
    floor: float = 0.05
    meaningful: float = 0.01  # seconds: a foreseen wait shorter than this teaches nothing

    def learn(self, measured: float, foreseen: float) -> None:
        if foreseen > self.meaningful and measured > 0:
            seen = min(1.0, max(self.floor, measured / foreseen))
            self.ratio += (seen - self.ratio) * self.smoothing

    def scale(self, foreseen: float) -> float:
        return foreseen * self.ratio


DRAIN_FLOOR = 200_000.0  # bytes/s: a loop that read nothing in an interval is not assumed to read nothing ever


def queue_delay(queued: int, drained: int, interval: float) -> float:
    """Seconds the ``queued`` bytes waiting in the kernel would take to read at the rate
    ``drained`` bytes were read over the last ``interval`` seconds."""
    if queued <= 0:
        return 0.0
    rate = max(drained / interval if interval > 0 else 0.0, DRAIN_FLOOR)
    return queued / rate


__all__ = ["Admission", "QueueBias", "Shed", "Shedding", "queue_delay"]
