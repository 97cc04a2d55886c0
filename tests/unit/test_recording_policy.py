"""Which answered calls are recorded (b2bua/recording.py)."""

from __future__ import annotations

from softswitch.b2bua.recording import recorded


def test_one_party_asking_is_enough() -> None:
    assert recorded("never", [(None, True), ("always", True)], [None, None])
    assert recorded("never", [(None, True)], ["always", None])  # the group that rang records its calls
    assert not recorded("never", [(None, True), (None, True)], [None, None])


def test_an_account_recording_everything_lets_every_extension_opt_out() -> None:
    assert recorded("always", [(None, True), ("never", True)], [None, None])
    assert not recorded("always", [("never", True), ("never", True)], [None, None])


def test_a_plan_without_recording_takes_the_extension_out() -> None:
    assert not recorded("always", [(None, False)], [None, None])
    assert not recorded("never", [("always", False)], [None, None])
    assert recorded("always", [(None, False), (None, True)], [None, None])


def test_a_call_with_no_extension_is_the_accounts_unless_its_hotline_says_never() -> None:
    assert recorded("always", [], [None, None])
    assert not recorded("always", [], [None, "never"])
    assert not recorded("never", [], [None, None])
