"""Load shedding, stepping ``now`` by hand: the call-rate bucket, the loop's lag with its
hysteresis and hold, the relay-port reserve, and the spread of Retry-After."""

from __future__ import annotations

from softswitch.overload import Admission, Shed, Shedding


def fixed(low: int, high: int) -> int:
    return (low + high) // 2


def test_no_ceiling_admits_everything_while_the_loop_keeps_up() -> None:
    admission = Admission(Shedding(), fixed)
    assert all(admission.admit(1000.0 + i / 1000, free_ports=500) is None for i in range(10_000))
    assert admission.shed == {"rate": 0, "lag": 0, "ports": 0}


def test_the_rate_ceiling_admits_a_seconds_worth_then_the_refill_rate() -> None:
    admission = Admission(Shedding(max_call_rate=100), fixed)
    burst = [admission.rate(1000.0) for _ in range(150)]
    assert sum(v is None for v in burst) == 100  # one second's worth at once
    assert burst[-1] == Shed("rate", 12, "Call Rate Exceeded")
    # Offered 500/s for 4 s: about 100/s get through.
    admitted = sum(admission.rate(1000.0 + i / 500) is None for i in range(1, 2001))
    assert 395 <= admitted <= 405
    assert admission.shed["rate"] == 150 - 100 + 2000 - admitted


def test_lag_sheds_every_new_call_until_it_falls_below_half_and_the_hold_is_over() -> None:
    admission = Admission(Shedding(max_loop_lag=0.2, hold=2.0), fixed)
    admission.observe_lag(0.05, 1000.0)
    assert admission.admit(1000.0, 500) is None
    admission.observe_lag(0.3, 1000.1)
    assert admission.overloaded and admission.admit(1000.1, 500) == Shed("lag", 12, "Overloaded")
    admission.observe_lag(0.01, 1001.0)  # quiet at once, but the hold is not over
    assert admission.overloaded
    admission.observe_lag(0.15, 1002.2)  # hold over, but above half the limit: still behind
    assert admission.overloaded
    admission.observe_lag(0.05, 1002.3)
    assert not admission.overloaded and admission.admit(1002.3, 500) is None
    assert admission.shed["lag"] == 1


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
