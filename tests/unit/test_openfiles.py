"""What the switch runs with for open files, from its limits and its config (openfiles.plan)."""

from __future__ import annotations

import resource

from hypothesis import given
from hypothesis import strategies as st

from softswitch.openfiles import PER_PAIR, SPARE, FilePlan, plan

INFINITY = resource.RLIM_INFINITY


def test_a_login_shells_soft_limit_is_raised_to_what_the_config_needs() -> None:
    needed = PER_PAIR * 5000 + 4096 + SPARE
    assert plan(1024, 1_048_576, 5000, 4096) == FilePlan(needed, 5000, 4096, short=False)
    assert plan(1024, INFINITY, 5000, 4096) == FilePlan(needed, 5000, 4096, short=False)


def test_a_soft_limit_already_high_enough_is_left_as_it_is() -> None:
    assert plan(1_000_000, 1_048_576, 5000, 4096) == FilePlan(1_000_000, 5000, 4096, short=False)
    assert plan(INFINITY, INFINITY, 5000, 4096) == FilePlan(INFINITY, 5000, 4096, short=False)


def test_a_low_hard_limit_is_shared_out_a_quarter_to_connections() -> None:
    # 1,024 files: 256 aside, 192 for connections, (768 - 192) / 3 = 192 port pairs (96 calls)
    assert plan(1024, 1024, 5000, 4096) == FilePlan(1024, 192, 192, short=True)
    assert plan(300, 300, 5000, 10) == FilePlan(300, 11, 10, short=True)  # fewer connections asked: the rest to pairs
    assert plan(100, 100, 5000, 4096) == FilePlan(100, 0, 0, short=True)  # nothing fits: every call refused


@given(soft=st.integers(16, 2_000_000), hard=st.integers(16, 2_000_000), pairs=st.integers(1, 30_000),
       connections=st.integers(16, 1_000_000))
def test_what_is_planned_fits_in_the_limit_and_never_lowers_it(soft: int, hard: int, pairs: int, connections: int) -> None:
    soft = min(soft, hard)
    chosen = plan(soft, hard, pairs, connections)
    assert soft <= chosen.limit <= max(soft, hard)
    assert chosen.pairs <= pairs and chosen.connections <= connections
    assert chosen.short == (chosen.pairs < pairs or chosen.connections < connections)
    if chosen.short:
        assert PER_PAIR * chosen.pairs + chosen.connections + SPARE <= max(chosen.limit, SPARE)
    else:
        assert PER_PAIR * pairs + connections + SPARE <= chosen.limit
