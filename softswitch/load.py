"""How far behind the switch is, measured for load shedding (the edge of ``overload``).

Every ``every`` seconds, for each UDP listener: the longest any datagram read meanwhile
waited in the kernel before the switch read it (the kernel's arrival stamps: a request's real
wait, whatever held the loop up), and the bytes waiting there now against the rate they were
just read (``overload.queue_delay``: the wait of the requests still queued, foreseen before they
are read), scaled by what it learnt of its bias (``overload.QueueBias``).  The larger of the two, over the listeners, is what a request arriving now would
wait; the admission core decides from it.  How late this sleep itself woke (the timers' lag) is
not counted: under a heavy media load the loop serves thousands of ready sockets (the SIP
socket among them, in turn) before it runs its timers again, so timers can run late while no
request waits.  The kernel's count of datagrams it dropped for a full buffer is kept in the
endpoint's counters as ``udp_dropped``.  When the switch starts shedding, what it saw is
logged once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable

from .overload import Admission, QueueBias, queue_delay
from .sip.transport.udp import UdpListener

log = logging.getLogger(__name__)


async def watch(listeners: Callable[[], Iterable[UdpListener]], admission: Admission, counters: Counter[str],
                every: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    read: dict[int, int] = {}
    biases: dict[int, QueueBias] = {}
    while True:
        due = loop.time() + every
        await asyncio.sleep(every)
        now = loop.time()
        lag = max(0.0, now - due)
        queued_for, waited, dropped = 0.0, 0.0, 0
        for listener in listeners():
            queued, drops = listener.backlog()
            drained = listener.received_bytes - read.get(id(listener), listener.received_bytes)
            read[id(listener)] = listener.received_bytes
            foreseen = queue_delay(queued, drained, every + lag)
            measured = listener.take_waited()
            bias = biases.setdefault(id(listener), QueueBias())
            if drained > 0:
                bias.learn(measured, foreseen)
            queued_for = max(queued_for, bias.scale(foreseen))
            waited = max(waited, measured)
            dropped += drops
        counters["udp_dropped"] = dropped
        was = admission.overloaded
        admission.observe(max(waited, queued_for), now)
        if admission.overloaded and not was:
            log.warning("overload: behind by %.0f ms (smoothed; now: requests waited up to %.0f ms, the SIP queue "
                        "holds %.0f ms, the loop's timers ran %.0f ms late): new calls over UDP that waited more "
                        "than %.0f ms are refused, others limited to %.0f/s, new registrations shed",
                        admission.delay * 1000, waited * 1000, queued_for * 1000, lag * 1000,
                        admission.settings.max_delay * 1000, admission.ceiling or 0.0)


__all__ = ["watch"]
