"""Load shedding, stepping ``now`` by hand: the configured call-rate bucket, the adaptive
ceiling while requests wait too long (cut, grown, lifted), the relay-port reserve, the spread
of Retry-After, and the queue delay estimate."""

from __future__ import annotations

from softswitch.overload import CUT, MIN_RATE, Admission, Shed, Shedding, queue_delay


def fixed(low: int, high: int) -> int:
    return (low + high) // 2


def test_no_ceiling_admits_everything_while_the_loop_keeps_up() -> None:
    admission = Admission(Shedding(), fixed)
    assert all(admission.admit(1000.0 + i / 1000, free_ports=500) is None for i in range(10_000))
    assert admission.shed == {"delay": 0, "ports": 0, "rate": 0, "registrations": 0}


def test_the_rate_ceiling_admits_a_seconds_worth_then_the_refill_rate() -> None:
    admission = Admission(Shedding(max_call_rate=100), fixed)
    burst = [admission.rate(1000.0) for _ in range(150)]
    assert sum(v is None for v in burst) == 100  # one second's worth at once
    assert burst[-1] == Shed("rate", 12, "Call Rate Exceeded")
    # Offered 500/s for 4 s: about 100/s get through.
    admitted = sum(admission.rate(1000.0 + i / 500) is None for i in range(1, 2001))
    assert 395 <= admitted <= 405
    assert admission.shed["rate"] == 150 - 100 + 2000 - admitted


def test_a_long_delay_sets_a_ceiling_under_the_rate_admitted_that_settles_and_lifts() -> None:
    admission = Admission(Shedding(max_delay=0.2, hold=2.0), fixed)
    now = 1000.0
    # 100 calls/s admitted while the switch keeps up: no ceiling.
    for _ in range(40):
        now += 0.05
        assert all(admission.pressure(now + i / 100, 500) is None for i in range(5))
        admission.observe(0.01, now)
    assert not admission.overloaded and 90 <= admission.admitting <= 110
    # Behind: the ceiling starts at 80 % of that, and is cut again at most every hold/4 s.
    admission.observe(0.6, now + 0.05)  # one stall: not overload
    assert not admission.overloaded
    for step in range(2, 6):  # still behind, 50 ms after 50 ms, as many calls as before
        assert all(admission.pressure(now + 0.05 * (step - 1) + 0.01 * i, 500) is None for i in range(1, 6))
        admission.observe(0.6, now + 0.05 * step)
        if admission.overloaded:
            break
    assert admission.ceiling is not None and 65 <= admission.ceiling <= 88  # 80 % of the ~90-100/s admitted
    first, now = admission.ceiling, now + 0.05 * step
    admission.observe(0.6, now + 0.05)
    assert admission.ceiling == first  # too soon to cut again
    admission.observe(0.6, now + 0.55)  # still behind, and further behind than at the cut: cut again
    assert admission.ceiling == first * CUT
    cut, was = admission.ceiling, admission.delay
    for tick in range(1, 21):  # behind for another second, but catching up: no deeper cut
        admission.observe(0.25, now + 0.55 + tick * 0.05)
        assert admission.ceiling == cut and admission.delay < was
    assert admission.delay > 0.2
    # Offered 200 calls/s for a second under that ceiling: about the ceiling gets through.
    now += 1.6
    passed = sum(admission.pressure(now + i / 200, 500) is None for i in range(200))
    assert cut - 10 <= passed <= cut + 10
    assert admission.shed["delay"] == 200 - passed
    # Caught up: the ceiling grows ...
    before = admission.ceiling
    for tick in range(20):  # the delay falls back
        admission.observe(0.0, now + 1.0 + tick * 0.05)
    admission.observe(0.0, now + 2.0)
    assert admission.ceiling is not None and admission.ceiling > before
    # ... and is lifted once nothing was shed for `hold` seconds.
    admission.observe(0.01, now + 3.5)
    assert not admission.overloaded and admission.pressure(now + 3.6, 500) is None


def test_an_invite_that_waited_past_max_delay_is_refused_and_its_wait_overrides_the_ceiling() -> None:
    """Over UDP each new INVITE is judged by how long it waited in the kernel: past
    ``max_delay`` it is refused whatever the ceiling while the switch is behind (not for one
    stall; MIN_RATE calls/s always get through), under it admitted whatever the ceiling (the
    wait is what the ceiling estimates); an INVITE whose wait is not known meets the ceiling."""
    admission = Admission(Shedding(max_delay=0.25, hold=2.0), fixed)
    now = 1000.0
    admission.observe(0.4, now)  # one stall: nothing refused for it
    assert admission.delay < 0.125 and all(admission.pressure(now, 500, waited=0.4) is None for _ in range(10))
    for tick in range(1, 5):  # behind
        admission.observe(0.3, now + tick * 0.05)
    now += 0.2
    assert admission.delay > 0.125
    passed = [admission.pressure(now + i / 100, 500, waited=0.26) is None for i in range(100)]
    assert 1 <= sum(passed) <= 1 + MIN_RATE  # a second's worth: MIN_RATE calls/s get through whatever they waited
    shed = admission.pressure(now + 1.0, 500, waited=0.26)
    assert shed is not None and (shed.why, shed.reason) == ("delay", "Overloaded")
    assert admission.shed["delay"] == 101 - sum(passed)
    assert admission.pressure(now, 500, waited=0.25) is None and admission.pressure(now, 500, waited=0.0) is None
    admission.ceiling = 5.0  # behind, by the smoothed delay
    assert sum(admission.pressure(now + i / 1000, 500, waited=0.1) is None for i in range(100)) == 100
    assert sum(admission.pressure(now + i / 1000, 500) is None for i in range(100)) <= 2  # wait not known
    assert admission.pressure(now + 1.01, 500, waited=0.3) is not None
    assert admission.pressure(now, 10, waited=0.1) is not None  # the port reserve holds either way


def test_while_invites_are_refused_for_their_wait_the_ceiling_is_not_cut() -> None:
    """The UDP INVITEs' own waits hold the delay near max_delay during a flood: the ceiling,
    which governs only INVITEs whose wait is not known (TCP, TLS, WebSocket), must not be cut
    for a delay that cutting it cannot lower (it would starve those calls to MIN_RATE)."""
    admission = Admission(Shedding(max_delay=0.25, hold=2.0), fixed)
    now = 1000.0
    for tick in range(1, 30):  # 100 calls/s admitted, then behind
        assert all(admission.pressure(now + tick * 0.05 + i / 1000, 500, waited=0.01) is None for i in range(5))
        admission.observe(0.3 if tick > 4 else 0.01, now + tick * 0.05)
        if admission.ceiling is not None:
            break
    assert admission.ceiling is not None
    start, now = admission.ceiling, now + tick * 0.05
    refused = 0
    for tick in range(1, 41):  # two seconds at the limit, 100 UDP INVITEs/s refused for their wait meanwhile
        refused += sum(admission.pressure(now + tick * 0.05 - 0.01 * i, 500, waited=0.3) is not None for i in range(1, 6))
        admission.observe(0.3 + tick * 0.001, now + tick * 0.05)
    assert refused >= 200 - 1 - 2 * MIN_RATE and admission.ceiling == start and admission.overloaded
    admission.observe(0.35, now + 2.1)  # behind with no INVITE refused for its wait: the ceiling's own cut
    assert admission.ceiling == start * CUT


def test_some_calls_always_get_through() -> None:
    admission = Admission(Shedding(max_delay=0.2, hold=2.0), fixed)
    for step in range(100):  # behind for 50 s, nothing admitted
        admission.observe(5.0, 1000.0 + step / 2)
    assert admission.ceiling == 5.0


def test_the_port_reserve_is_kept_for_calls_already_up() -> None:
    admission = Admission(Shedding(port_reserve=20), fixed)
    assert admission.admit(1000.0, 20) is None
    assert admission.admit(1000.0, 19) == Shed("ports", 12, "No Media Ports")


def test_retry_after_is_drawn_from_the_configured_range() -> None:
    seen: list[tuple[int, int]] = []

    def pick(low: int, high: int) -> int:
        seen.append((low, high))
        return high

    admission = Admission(Shedding(port_reserve=5, retry_after=(3, 9)), pick)
    assert admission.admit(1000.0, 0) == Shed("ports", 9, "No Media Ports") and seen == [(3, 9)]


def test_a_new_ceiling_applies_at_once() -> None:
    admission = Admission(Shedding(max_call_rate=10), fixed)
    assert sum(admission.admit(1000.0, 500) is None for _ in range(20)) == 10
    admission.configure(Shedding(max_call_rate=50))
    assert sum(admission.admit(1000.0, 500) is None for _ in range(60)) == 50


def test_the_queue_delay_is_what_waits_over_the_rate_it_was_just_read() -> None:
    assert queue_delay(0, 0, 0.05) == 0.0
    assert queue_delay(500_000, 250_000, 0.05) == 0.1  # read at 5 MB/s: 0.1 s to read the rest
    assert queue_delay(500_000, 0, 0.05) == 2.5  # nothing read: at the floor rate


def test_new_registrations_are_shed_only_while_behind() -> None:
    admission = Admission(Shedding(max_delay=0.2, hold=2.0, retry_after=(10, 30)), fixed)
    admission.observe(0.15, 1000.0)
    assert admission.registration() is None  # keeping up
    for tick in range(1, 30):
        admission.observe(0.5, 1000.0 + tick * 0.05)
    assert admission.registration() == Shed("registrations", 20, "Overloaded")
    for tick in range(30, 60):  # caught up: under half of max_delay
        admission.observe(0.0, 1000.0 + tick * 0.05)
    assert admission.registration() is None
    assert admission.shed["registrations"] == 1


def test_the_queue_estimate_learns_how_far_it_overstates() -> None:
    from softswitch.overload import QueueBias

    bias = QueueBias()
    assert bias.scale(0.7) == 0.7  # nothing learnt: taken as it is
    for _ in range(60):
        bias.learn(measured=0.1, foreseen=0.7)  # bench_overload: 105 ms waited, 692 ms foreseen
    assert 0.14 < bias.ratio < 0.16 and 0.09 < bias.scale(0.7) < 0.11
    bias.learn(measured=0.0, foreseen=0.7)  # nothing read: teaches nothing
    bias.learn(measured=0.05, foreseen=0.005)  # too short to tell
    assert 0.14 < bias.ratio < 0.16
    for _ in range(200):
        bias.learn(measured=5.0, foreseen=0.5)  # waited longer than foreseen: never scaled up
    assert bias.ratio <= 1.0 and bias.scale(0.5) <= 0.5
    for _ in range(200):
        bias.learn(measured=0.0001, foreseen=1.0)
    assert bias.ratio >= bias.floor
