"""Per-source limits, stepping ``now`` by hand (softswitch/security.py): request classes over
a sliding window, a burst at the limit served and the next request banning, ban expiry and
lifting, the allow-list, unanswered challenges, failed authentications, and the memory bound
under a flood from spoofed addresses."""

from __future__ import annotations

import ipaddress

from softswitch.security import CHALLENGES, FAILURES, Kind, Limits, SourceGuard, classify

T0 = 1000.0


def flood(guard: SourceGuard, host: str, kind: Kind, rate: float, count: int, start: float = T0) -> int:
    """Send ``count`` messages at ``rate``/s as the endpoint does; how many were answered."""
    answered = 0
    for i in range(count):
        now = start + i / rate
        if guard.is_banned(host, now):
            continue
        if guard.count(host, kind, now) is None:
            answered += 1
    return answered


def test_classes() -> None:
    assert classify("REGISTER", False) is Kind.REGISTER
    assert classify("INVITE", False) is Kind.CALL
    assert classify("SUBSCRIBE", False) is Kind.SUBSCRIBE
    for method in ("OPTIONS", "MESSAGE", "NOTIFY", "PUBLISH", "REFER", "INFO", "FOO"):
        assert classify(method, False) is Kind.OTHER
    for method in ("INVITE", "BYE", "SUBSCRIBE", "OPTIONS"):  # with a To tag
        assert classify(method, True) is Kind.DIALOG
    assert classify("ACK", False) is classify("CANCEL", False) is classify(None, False) is Kind.DIALOG


def test_a_flood_is_silenced_after_the_limit_and_the_ban_is_reported_once_with_counts() -> None:
    guard = SourceGuard(Limits(other=60, window=10, ban_time=300))
    bans = []
    for i in range(300):  # 500/s
        now = T0 + i / 500
        if guard.is_banned("198.51.100.7", now):
            continue
        ban = guard.count("198.51.100.7", Kind.OTHER, now)
        if ban is not None:
            bans.append(ban)
    assert len(bans) == 1
    (ban,) = bans
    assert ban.why == "other requests" and ban.counts == {"other requests": 61}
    assert ban.since == T0 + 60 / 500 and ban.until == ban.since + 300
    assert ban.dropped == 300 - 61
    assert guard.counters["bans"] == 1 and guard.counters["bans_other_requests"] == 1


def test_a_burst_at_the_limit_is_fully_served_from_every_class() -> None:
    limits = Limits(registrations=60, calls=40, subscriptions=300, other=50, dialog=1000)
    guard = SourceGuard(limits)
    for kind in Kind:  # at once, each class to its limit: classes do not add up
        assert flood(guard, "192.0.2.1", kind, 1000, limits.of(kind)) == limits.of(kind)
    assert guard.banned == 0
    assert guard.count("192.0.2.1", Kind.CALL, T0 + 1) is not None  # one more of any class bans


def test_the_window_slides() -> None:
    guard = SourceGuard(Limits(other=60, window=10))
    # 5/s (50 in any 10 s) for ten minutes: never banned, whatever the buckets' phase.
    assert flood(guard, "192.0.2.2", Kind.OTHER, 5, 3000, start=T0 + 3.7) == 3000
    # 7/s (70 in 10 s): banned within about a window and a half.
    assert flood(guard, "192.0.2.3", Kind.OTHER, 7, 200, start=T0 + 3.7) <= 7 * 15
    assert guard.banned == 1
    # Half the limit, then the rest of it after one window has gone by: fully served.
    other = SourceGuard(Limits(other=60, window=10))
    assert flood(other, "192.0.2.4", Kind.OTHER, 100, 30) == 30
    assert flood(other, "192.0.2.4", Kind.OTHER, 100, 60, start=T0 + 20) == 60


def test_a_flood_over_a_bucket_boundary_is_still_cut_near_the_limit() -> None:
    for phase in (0.0, 9.9, 9.95, 9.99):
        guard = SourceGuard(Limits(other=60, window=10))
        guard.count("192.0.2.9", Kind.OTHER, T0)  # the buckets start here
        answered = flood(guard, "192.0.2.9", Kind.OTHER, 500, 300, start=T0 + phase)
        assert 59 <= answered <= 61, (phase, answered)


def test_the_ban_lasts_its_time_then_the_source_starts_again() -> None:
    guard = SourceGuard(Limits(other=10, ban_time=5))
    assert flood(guard, "192.0.2.5", Kind.OTHER, 100, 11) == 10
    since = T0 + 10 / 100
    # At 1/s the source stays silenced for the whole ban ...
    for t in range(5):
        assert guard.is_banned("192.0.2.5", since + t)
    assert guard.sweep(since + 4.99) == []
    assert [b.source for b in guard.bans(since + 4.99)] == ["192.0.2.5"]
    # ... and is answered once it has ended, reported once, with what it dropped.
    assert not guard.is_banned("192.0.2.5", since + 5)
    (ended,) = guard.sweep(since + 5.5)
    assert ended.source == "192.0.2.5" and ended.dropped == 5
    assert guard.sweep(since + 6) == [] and guard.bans(since + 6) == []
    assert guard.count("192.0.2.5", Kind.OTHER, since + 6) is None  # counted from zero


def test_a_ban_ends_in_the_sweep_even_when_the_source_went_quiet() -> None:
    guard = SourceGuard(Limits(other=1, ban_time=5))
    flood(guard, "192.0.2.6", Kind.OTHER, 10, 2)
    assert [b.source for b in guard.sweep(T0 + 10)] == ["192.0.2.6"] and guard.banned == 0


def test_lift() -> None:
    guard = SourceGuard(Limits(other=1))
    flood(guard, "192.0.2.7", Kind.OTHER, 10, 5)
    flood(guard, "192.0.2.8", Kind.OTHER, 10, 5, start=T0 + 1)
    assert [b.source for b in guard.bans(T0 + 2)] == ["192.0.2.7", "192.0.2.8"]
    lifted = guard.lift("192.0.2.7")
    assert lifted is not None and lifted.dropped == 3
    assert guard.lift("192.0.2.7") is None and guard.lift("203.0.113.1") is None
    assert not guard.is_banned("192.0.2.7", T0 + 2) and guard.is_banned("192.0.2.8", T0 + 2)
    assert guard.count("192.0.2.7", Kind.OTHER, T0 + 2) is None  # its count starts again
    assert guard.counters["bans_lifted"] == 1 and guard.sweep(T0 + 3) == []


def test_trunks_and_trusted_networks_are_exempt_from_request_and_challenge_limits() -> None:
    guard = SourceGuard(Limits(other=5, challenges=5, failures=3))
    guard.trust(["203.0.113.10", "[2001:db8::1]"], [ipaddress.ip_network("10.1.0.0/16")])
    for host in ("203.0.113.10", "2001:db8::1", "10.1.200.3"):
        assert flood(guard, host, Kind.OTHER, 1000, 500) == 500
        assert all(guard.challenged(host, T0) is None for _ in range(50))
    assert guard.tracked == 0
    assert flood(guard, "10.2.0.1", Kind.OTHER, 1000, 10) == 5  # outside the network
    # A password guesser inside a trusted network is still cut off ...
    assert [guard.failed("10.1.200.3", T0 + i) for i in range(3)][-1] is not None
    # ... but a trunk, trusted by its address, never gives a password: failures "from" it are
    # spoofed datagrams, and must not ban the provider's calls.
    assert all(guard.failed(host, T0 + i) is None for host in ("203.0.113.10", "[2001:db8::1]") for i in range(10))
    assert not guard.is_banned("203.0.113.10", T0 + 10)
    # The allow-list can change (a reload, a trunk's name resolved): it is looked at afresh.
    guard.trust([], [])
    assert flood(guard, "203.0.113.10", Kind.OTHER, 1000, 10, start=T0 + 100) == 5


def test_a_phone_answering_its_challenges_is_never_banned_for_them() -> None:
    guard = SourceGuard(Limits(challenges=20, challenge_window=60, registrations=0, subscriptions=0))
    now = T0
    for _ in range(2000):  # register, subscribe, call: each challenged once and answered
        now += 0.05
        assert guard.challenged("192.0.2.20", now) is None
        guard.answered("192.0.2.20", now + 0.01)
    # A boot burst of 20 SUBSCRIBEs, every challenge sent before the first answer: served.
    assert all(guard.challenged("192.0.2.20", now + 1) is None for _ in range(20))
    for _ in range(20):
        guard.answered("192.0.2.20", now + 1.1)
    assert guard.banned == 0
    # A phone that gave up on a few is forgiven them over time.
    for i in range(100):
        assert guard.challenged("192.0.2.20", now + 2 + i * 10) is None


def test_unanswered_challenges_ban_even_under_the_request_limits() -> None:
    guard = SourceGuard(Limits(registrations=60, window=10, challenges=30, challenge_window=60))
    bans = []
    for i in range(100):  # 2 REGISTERs/s without credentials: well under 60 in 10 s
        now = T0 + i / 2
        if guard.is_banned("192.0.2.21", now):
            continue
        assert guard.count("192.0.2.21", Kind.REGISTER, now) is None
        if (ban := guard.challenged("192.0.2.21", now)) is not None:
            bans.append(ban)
    (ban,) = bans
    # 2 challenges a second, 0.5 a second forgiven: 1 + 0.75 k after the k-th passes 30 at k = 39.
    assert ban.why == CHALLENGES and ban.since == T0 + 39 / 2
    assert ban.counts[CHALLENGES] == 30 and 20 <= ban.counts["registrations"] <= 21  # the last 10 s, about
    # Credentials for challenges never sent do not bank credit for later ones.
    other = SourceGuard(Limits(challenges=3))
    for _ in range(50):
        other.answered("192.0.2.22", T0)
    assert [other.challenged("192.0.2.22", T0 + 1) is None for _ in range(4)] == [True, True, True, False]


def test_failed_authentications() -> None:
    guard = SourceGuard(Limits(failures=10, failure_window=60, ban_time=300))
    assert [guard.failed("192.0.2.30", T0 + i) is None for i in range(10)] == [True] * 9 + [False]
    (ban,) = guard.bans(T0 + 10)
    assert ban.why == FAILURES and ban.counts == {FAILURES: 10}
    # A success starts the count again; failures spread wider than the window never add up.
    guard.failed("192.0.2.31", T0)
    for i in range(9):
        guard.failed("192.0.2.31", T0 + i)
    guard.succeeded("192.0.2.31")
    assert all(guard.failed("192.0.2.31", T0 + 10 + i) is None for i in range(9))
    assert all(guard.failed("192.0.2.32", T0 + 20 * i) is None for i in range(100))


def test_zero_is_no_limit() -> None:
    guard = SourceGuard(Limits(other=0, challenges=0, failures=0))
    assert flood(guard, "192.0.2.40", Kind.OTHER, 1000, 5000) == 5000
    assert all(guard.challenged("192.0.2.40", T0) is None for _ in range(500))
    assert all(guard.failed("192.0.2.40", T0) is None for _ in range(500))
    assert guard.tracked == 0


def test_memory_is_bounded_under_a_flood_from_spoofed_addresses() -> None:
    guard = SourceGuard(Limits(other=60, max_sources=1000))
    now = T0
    for i in range(50_000):  # a new address each time, 10,000/s, with one real flooder among them
        now += 0.0001
        guard.count(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", Kind.OTHER, now)
        assert guard.tracked <= 1000
        if i % 100 == 0 and not guard.is_banned("192.0.2.50", now):
            guard.count("192.0.2.50", Kind.OTHER, now)  # 100/s: recently seen, so kept and banned
    assert guard.is_banned("192.0.2.50", now) and guard.banned == 1
    assert guard.counters["sources_evicted"] >= 48_000
    # Once the flood stops, idle sources are let go.
    guard.sweep(now + Limits().memory + 1)
    assert guard.tracked == 0


def test_bans_are_bounded_too() -> None:
    guard = SourceGuard(Limits(other=1, max_sources=100))
    for i in range(300):
        host = f"10.0.{i >> 8}.{i & 255}"
        flood(guard, host, Kind.OTHER, 1000, 2, start=T0 + i)
    assert guard.banned == 100
    assert len(guard.sweep(T0 + 301)) == 200  # the oldest, let go early, are reported as ended
