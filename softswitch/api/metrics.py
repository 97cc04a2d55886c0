"""Prometheus metrics at ``/metrics`` (``prometheus-client``), read from the switch's own
counters and tables when scraped: nothing is added to the hot paths but plain counts.

The switch hands a ``Snapshot`` (one function call per scrape); this module only names and
labels what it holds, in the Prometheus text format.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ..histogram import Histogram


@dataclass
class Snapshot:
    registrations: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, transport) -> bindings
    calls_active: dict[str, int] = field(default_factory=dict)  # account -> calls in progress
    calls_ended: dict[str, int] = field(default_factory=dict)  # disposition -> calls
    setup_seconds: Histogram = field(default_factory=Histogram)  # INVITE to the caller's first 18x or 2xx
    calls_shed: dict[str, int] = field(default_factory=dict)  # why -> new calls refused by load shedding
    requests_received: dict[str, int] = field(default_factory=dict)  # method -> requests
    responses_sent: dict[str, int] = field(default_factory=dict)  # status code -> responses
    dropped: dict[str, int] = field(default_factory=dict)  # why -> messages dropped unanswered
    connections: int = 0  # TCP, TLS and WebSocket connections open
    connections_refused: dict[str, int] = field(default_factory=dict)  # why -> connections closed at once
    relay_packets: dict[str, int] = field(default_factory=dict)  # "in" | "out" -> RTP packets relayed
    relay_lost: int = 0  # packets lost on the way to the relay (RTP sequence), of ended calls
    relay_jitter_ms: dict[str, float] = field(default_factory=dict)  # "max" of calls in progress
    relay_sessions: int = 0
    parked: dict[str, int] = field(default_factory=dict)  # account -> occupied slots
    banned: int = 0
    security: dict[str, int] = field(default_factory=dict)  # event -> count
    trunks: dict[str, bool] = field(default_factory=dict)  # trunk -> registered (IP peers: not listed)
    store_pending: dict[str, int] = field(default_factory=dict)  # what -> items waiting to be written
    delay_seconds: float = 0.0  # the load shedding's measured delay


class SwitchCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot()

        def gauge(name: str, text: str, labels: list[str], values: dict[tuple[str, ...], float]) -> GaugeMetricFamily:
            metric = GaugeMetricFamily(f"softswitch_{name}", text, labels=labels)
            for key, value in sorted(values.items()):
                metric.add_metric(list(key), value)
            return metric

        def counter(name: str, text: str, labels: list[str], values: dict[tuple[str, ...], float]) -> CounterMetricFamily:
            metric = CounterMetricFamily(f"softswitch_{name}", text, labels=labels)
            for key, value in sorted(values.items()):
                metric.add_metric(list(key), value)
            return metric

        yield gauge("registrations", "Registered bindings", ["account", "transport"],
                    {(a, t.lower()): n for (a, t), n in s.registrations.items()})
        yield gauge("calls_active", "Calls in progress", ["account"], {(a,): n for a, n in s.calls_active.items()})
        yield counter("calls_ended", "Calls ended, by outcome", ["disposition"], {(d,): n for d, n in s.calls_ended.items()})
        yield HistogramMetricFamily("softswitch_call_setup_seconds", "From a call's authenticated INVITE to the "
                                    "caller's first 18x or 2xx (RFC 6076 session request delay)",
                                    buckets=s.setup_seconds.cumulative(), sum_value=s.setup_seconds.total)
        yield counter("calls_shed", "New calls refused with 503 by load shedding", ["why"],
                      {(w,): n for w, n in s.calls_shed.items()})
        yield counter("sip_requests_received", "SIP requests received (retransmissions included)", ["method"],
                      {(m,): n for m, n in s.requests_received.items()})
        yield counter("sip_responses_sent", "SIP responses sent by the switch's transactions (retransmissions not counted)",
                      ["status"], {(c,): n for c, n in s.responses_sent.items()})
        yield counter("sip_dropped", "SIP messages dropped unanswered", ["why"], {(w,): n for w, n in s.dropped.items()})
        yield gauge("sip_connections", "TCP, TLS and WebSocket connections open", [], {(): s.connections})
        yield counter("sip_connections_refused", "Connections closed as soon as accepted: a banned source, or a cap "
                      "(transport.max_connections, max_connections_per_source) reached", ["why"],
                      {(w,): n for w, n in s.connections_refused.items()})
        yield counter("relay_packets", "RTP packets relayed", ["direction"], {(d,): n for d, n in s.relay_packets.items()})
        yield counter("relay_lost_packets", "RTP packets lost before the relay (by sequence number), of ended calls", [],
                      {(): s.relay_lost})
        yield gauge("relay_jitter_max_milliseconds", "Largest interarrival jitter of the calls in progress", [],
                    {(): s.relay_jitter_ms.get("max", 0.0)})
        yield gauge("relay_sessions", "Media sessions open", [], {(): s.relay_sessions})
        yield gauge("park_occupied", "Occupied park slots", ["account"], {(a,): n for a, n in s.parked.items()})
        yield gauge("bans", "Sources banned now", [], {(): s.banned})
        yield counter("security_events", "Security events (authentication failures, bans, limits)", ["event"],
                      {(e,): n for e, n in s.security.items()})
        yield gauge("trunk_registered", "1 if the trunk's outbound registration is up", ["trunk"],
                    {(t,): 1.0 if up else 0.0 for t, up in s.trunks.items()})
        yield gauge("store_pending", "Items waiting for the store's write-behind", ["what"],
                    {(w,): n for w, n in s.store_pending.items()})
        yield gauge("delay_seconds", "How long a request arriving now would wait (load shedding's measure)", [],
                    {(): s.delay_seconds})


def registry(snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    out = CollectorRegistry(auto_describe=False)
    out.register(SwitchCollector(snapshot))
    return out
