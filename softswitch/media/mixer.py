"""Calls with a supervisor on them: each one's ``Monitoring`` (monitor.py) fed by the relay,
and one 20 ms timer that sends every mixed leg its frames (see monitor.py for who hears whom).

A mixed leg's frames leave from that leg's own RTP socket towards its phone, numbered as a
stream of their own (``player.Output``), in the payload type the leg's session uses.  While
the switch plays a sound to a leg (music, a prompt) that leg gets the sound, not the mix.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .mix import encode
from .monitor import Mode, Monitoring
from .player import Output, Sends, Ticker, g711
from .relay import Leg


@dataclass
class _Monitored:
    monitoring: Monitoring
    sockets: dict[str, Sends]  # leg -> its RTP socket
    legs: dict[str, Leg]
    pts: dict[str, int]
    outputs: dict[str, Output] = field(default_factory=dict)

    def output(self, leg: str) -> Output:
        out = self.outputs.get(leg)
        if out is None:
            out = self.outputs[leg] = Output(self.sockets[leg], self.legs[leg], g711(self.pts.get(leg)))
        return out


class Mixer:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.active: dict[str, _Monitored] = {}
        self.counters = {"monitors_started": 0, "mixed_frames": 0}
        self._ticker: Ticker | None = None

    def start(self, session_id: str, agent: str, mode: Mode, sockets: dict[str, Sends], legs: dict[str, Leg],
              pts: dict[str, int]) -> Monitoring:
        monitoring = Monitoring(agent, mode, self.loop.time())
        self.active[session_id] = _Monitored(monitoring, sockets, legs, pts)
        self.counters["monitors_started"] += 1
        self.mode(session_id, mode)
        if self._ticker is None:
            self._ticker = Ticker(self.loop, self._tick)
        return monitoring

    def mode(self, session_id: str, mode: Mode, pts: dict[str, int] | None = None) -> None:
        """Switch who hears whom; the relay stops forwarding to the legs mixed from now on."""
        monitored = self.active.get(session_id)
        if monitored is None:
            return
        for name, pt in (pts or {}).items():
            monitored.pts[name] = pt
            monitored.outputs.pop(name, None)
        monitored.monitoring.switch(mode)
        mixed = monitored.monitoring.mixed()
        for name, leg in monitored.legs.items():
            leg.mixed = name in mixed

    def stop(self, session_id: str) -> None:
        monitored = self.active.pop(session_id, None)
        if monitored is not None:
            for leg in monitored.legs.values():
                leg.mixed = False
        if not self.active and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def _tick(self) -> None:
        now = self.loop.time()
        for monitored in self.active.values():
            for frame in monitored.monitoring.due(now):
                for leg, samples in frame.items():
                    if monitored.legs[leg].playing or monitored.legs[leg].detached:
                        continue
                    output = monitored.output(leg)
                    output.send_payload(encode(samples, output.pt))
                    self.counters["mixed_frames"] += 1

    def shutdown(self) -> None:
        for session_id in list(self.active):
            self.stop(session_id)
