"""Throttling of sources that keep failing authentication (SPEC: What bad input gets).

A source that fails ``threshold`` times within ``window`` seconds is banned for
``ban_time`` seconds: its requests are dropped and counted.  Pure: time comes in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class FailureThrottle:
    threshold: int = 20
    window: float = 60.0
    ban_time: float = 300.0
    max_sources: int = 100_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _banned: dict[str, float] = field(default_factory=dict)
    dropped: int = 0

    def is_banned(self, source: str, now: float) -> bool:
        until = self._banned.get(source)
        if until is None:
            return False
        if now >= until:
            del self._banned[source]
            return False
        return True

    def record_failure(self, source: str, now: float) -> bool:
        """Count one failure; True when this failure starts a ban."""
        times = self._failures.get(source)
        if times is None:
            if len(self._failures) >= self.max_sources:
                self._purge(now)
            times = self._failures[source] = deque()
        times.append(now)
        while times and now - times[0] > self.window:
            times.popleft()
        if len(times) >= self.threshold:
            self._banned[source] = now + self.ban_time
            del self._failures[source]
            return True
        return False

    def record_success(self, source: str) -> None:
        self._failures.pop(source, None)

    def _purge(self, now: float) -> None:
        for src in [s for s, t in self._failures.items() if not t or now - t[-1] > self.window]:
            del self._failures[src]
        while len(self._failures) >= self.max_sources:
            del self._failures[next(iter(self._failures))]
