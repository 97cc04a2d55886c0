"""The latency histogram /metrics shows (Prometheus buckets: cumulative, upper bound inclusive)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.histogram import Histogram


def test_buckets_are_cumulative_and_inclusive_of_their_bound() -> None:
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 3.0):
        h.observe(value)
    assert h.cumulative() == [("0.1", 2), ("1.0", 4), ("+Inf", 5)]
    assert h.count == 5 and h.total == pytest.approx(4.65)


def test_bounds_must_rise() -> None:
    with pytest.raises(ValueError):
        Histogram((1.0, 0.5))
    with pytest.raises(ValueError):
        Histogram((0.5, 0.5))


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False)))
def test_each_bucket_counts_the_values_at_or_below_its_bound(values: list[float]) -> None:
    h = Histogram()
    for v in values:
        h.observe(v)
    for bound, n in h.cumulative():
        assert n == sum(1 for v in values if v <= float(bound))
