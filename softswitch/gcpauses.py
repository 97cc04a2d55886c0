"""How long the garbage collector stops the event loop, per generation (``softswitch counters``,
section ``gc``).

A collection of the oldest generation walks every tracked object: with a few hundred calls
up it is the longest pause the switch has, and the load shedding sees it as lag.  The counts
and the longest pause of each generation tell an operator whether a stall was the collector.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class GcPauses:
    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.pause_max = [0.0, 0.0, 0.0]  # seconds
        self.pause_total = [0.0, 0.0, 0.0]
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause, generation = time.perf_counter() - self._started, info["generation"]
            self._started = None
            self.collections[generation] += 1
            self.pause_total[generation] += pause
            self.pause_max[generation] = max(self.pause_max[generation], pause)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def uninstall(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def counters(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for generation in range(3):
            out[f"gen{generation}_collections"] = self.collections[generation]
            out[f"gen{generation}_pause_max_ms"] = round(self.pause_max[generation] * 1000, 1)
            out[f"gen{generation}_pause_total_ms"] = round(self.pause_total[generation] * 1000, 1)
        return out


__all__ = ["GcPauses"]
