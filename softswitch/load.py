"""How far behind the switch is, measured for load shedding (the edge of ``overload``).

Every ``every`` seconds: how late the sleep woke (the event loop's lag) and, for each UDP
listener, the bytes waiting in the kernel against the rate they were just read
(``overload.queue_delay``).  Their sum (the worst listener) is what a request arriving now
would wait; the admission core decides from it.  The kernel's count of datagrams it dropped
for a full buffer is kept in the endpoint's counters as ``udp_dropped``.  When the switch
starts shedding, what it saw is logged once: the lag and the queue's share of the delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable

from .overload import Admission, queue_delay
from .sip.transport.udp import UdpListener

log = logging.getLogger(__name__)


async def watch(listeners: Callable[[], Iterable[UdpListener]], admission: Admission, counters: Counter[str],
                every: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    read: dict[int, int] = {}
    while True:
        due = loop.time() + every
        await asyncio.sleep(every)
        now = loop.time()
        lag = max(0.0, now - due)
        queued_for, dropped = 0.0, 0
        for listener in listeners():
            queued, drops = listener.backlog()
            drained = listener.received_bytes - read.get(id(listener), listener.received_bytes)
            read[id(listener)] = listener.received_bytes
            queued_for = max(queued_for, queue_delay(queued, drained, every + lag))
            dropped += drops
        counters["udp_dropped"] = dropped
        was = admission.overloaded
        admission.observe(lag + queued_for, now)
        if admission.overloaded and not was:
            log.warning("overload: behind by %.0f ms (smoothed; now: loop lag %.0f ms, SIP queue %.0f ms): "
                        "new calls limited to %.0f/s", admission.delay * 1000, lag * 1000, queued_for * 1000,
                        admission.ceiling or 0.0)


__all__ = ["watch"]
