"""RTP port allocation for the relay (pure).

Each stream gets an even RTP port and the odd port above it for RTCP (RFC 3550 §11).
Freed ports go to the back of the queue, so a port is not handed out again while late
packets of its previous call may still arrive.  Counters let tests assert that every
allocation was released (no leaked ports).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


class PortsExhausted(Exception):
    """No free RTP port in the configured range: the call gets 503."""


@dataclass
class PortCounters:
    allocated: int = 0
    released: int = 0

    @property
    def in_use(self) -> int:
        return self.allocated - self.released


class PortPool:
    def __init__(self, low: int = 10000, high: int = 20000) -> None:
        if low < 1024 or high > 65535 or high - low < 2:
            raise ValueError(f"bad RTP port range {low}-{high}")
        first = low + (low % 2)
        self._free: deque[int] = deque(range(first, high - 1, 2))
        self._busy: set[int] = set()
        self.counters = PortCounters()
        # Pairs that may be in use at once: the range's, or fewer when the open files the process
        # may have allow fewer (openfiles.py; set by the switch at start).
        self.size = len(self._free)

    @property
    def free(self) -> int:
        """Port pairs ready to hand out."""
        return self.size - len(self._busy)

    def allocate(self) -> int:
        """An even RTP port (its RTCP port is the one above)."""
        if len(self._busy) >= self.size:
            raise PortsExhausted(f"all {self.size} RTP port pairs are in use")
        port = self._free.popleft()
        self._busy.add(port)
        self.counters.allocated += 1
        return port

    def release(self, port: int) -> None:
        if port not in self._busy:
            raise ValueError(f"port {port} is not allocated")
        self._busy.remove(port)
        self._free.append(port)
        self.counters.released += 1
