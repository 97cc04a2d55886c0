"""Load shedding: whether a new call is admitted, or refused with ``503`` and a
``Retry-After`` before anything is spent on it (SPEC "What bad input gets"; RFC 3261
§21.5.4; the spread of retries after RFC 7339's reasoning, without its headers).

Theory of operation
-------------------
Three signals, checked for each new INVITE (from a phone or a trunk) before it is routed
or given relay ports (the loop's lag and the ports before it is even authenticated, the
rate once it is, so a challenge round does not count twice); requests inside dialogs,
REGISTERs and the calls already up are never shed:

  * **the call rate**: a token bucket holding ``max_call_rate`` tokens (one second's worth)
    and refilled at that rate; a call that finds it empty is shed (``0``: no ceiling);
  * **the event loop's lag**: the service measures how late a short periodic timer fires
    (``lag``); past ``max_loop_lag`` the switch is behind on everything it was asked, and
    every new call is shed until the lag falls below half of it again (hysteresis, so it
    does not flap), and for at least ``hold`` seconds;
  * **relay ports**: fewer than ``port_reserve`` free pairs left: calls already up keep
    the rest (a transfer or a pick-up needs none, a ring-back none), new ones are shed
    before the pool runs dry.

A shed call's ``Retry-After`` is drawn uniformly from ``retry_after`` by the injected
``pick`` so that phones and providers refused together do not all come back together.
Pure: time comes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Shedding:
    """The thresholds (the config's ``overload`` section)."""

    max_call_rate: float = 0.0  # new calls per second; 0: no ceiling
    max_loop_lag: float = 0.25  # seconds
    hold: float = 2.0  # seconds shedding lasts at least, once the lag started it
    port_reserve: int = 20  # relay port pairs kept for calls already up
    retry_after: tuple[int, int] = (5, 20)  # seconds, the range a Retry-After is drawn from


@dataclass(frozen=True, slots=True)
class Shed:
    """A new call refused: why (a counter's name) and the ``Retry-After`` to send."""

    why: str  # "rate", "lag" or "ports"
    retry_after: int
    reason: str  # the 503's reason phrase


@dataclass
class Admission:
    settings: Shedding
    pick: Callable[[int, int], int]  # e.g. random.randint
    tokens: float = 0.0
    refilled: float | None = None
    lag: float = 0.0
    overloaded_until: float | None = None  # shedding for lag, at least until then
    shed: dict[str, int] = field(default_factory=lambda: {"rate": 0, "lag": 0, "ports": 0})

    def observe_lag(self, lag: float, now: float) -> None:
        """How late the loop's periodic timer fired (seconds)."""
        self.lag = lag
        limit = self.settings.max_loop_lag
        if lag > limit:
            self.overloaded_until = now + self.settings.hold
        elif self.overloaded_until is not None and lag < limit / 2 and now >= self.overloaded_until:
            self.overloaded_until = None

    @property
    def overloaded(self) -> bool:
        return self.overloaded_until is not None

    def pressure(self, free_ports: int) -> Shed | None:
        """Checked first for every new INVITE: the loop behind, or the port reserve reached.
        None: go on.  Else the 503 to send (counted)."""
        if self.overloaded_until is not None:
            return self._shed("lag", "Overloaded")
        if free_ports < self.settings.port_reserve:
            return self._shed("ports", "No Media Ports")
        return None

    def rate(self, now: float) -> Shed | None:
        """Checked once per call about to be set up (a phone's INVITE once authenticated, so
        its challenge round does not count twice; a trunk's at once): the call-rate bucket."""
        rate = self.settings.max_call_rate
        if rate <= 0:
            return None
        if self.refilled is None:
            self.tokens, self.refilled = rate, now
        self.tokens = min(rate, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens < 1.0:
            return self._shed("rate", "Call Rate Exceeded")
        self.tokens -= 1.0
        return None

    def admit(self, now: float, free_ports: int) -> Shed | None:
        """Both checks at once."""
        return self.pressure(free_ports) or self.rate(now)

    def _shed(self, why: str, reason: str) -> Shed:
        self.shed[why] += 1
        low, high = self.settings.retry_after
        return Shed(why, self.pick(low, high), reason)

    def configure(self, settings: Shedding) -> None:
        """New thresholds (a reloaded config); the bucket refills to the new ceiling."""
        if settings != self.settings:
            self.settings, self.refilled = settings, None


__all__ = ["Admission", "Shed", "Shedding"]
