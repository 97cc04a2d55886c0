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


def test_the_recording_code_typed_on_an_extensions_leg_of_an_answered_call() -> None:
    from types import SimpleNamespace

    from softswitch.b2bua.actions import Phase, ToggleRecording
    from softswitch.b2bua.recording import RecordingKey

    key = RecordingKey("*1")
    call = SimpleNamespace(phase=Phase.ANSWERED, extensions={"a": "101", "b": None})
    assert key.on_key(call, "a", "*", 10.0) is None  # type: ignore[arg-type]
    assert key.on_key(call, "a", "1", 10.5) == [ToggleRecording("a")]  # type: ignore[arg-type]
    assert key.on_key(call, "a", "*", 20.0) is None and key.on_key(call, "a", "1", 24.0) is None  # type: ignore[arg-type]
    assert key.on_key(call, "b", "*", 30.0) is None and key.on_key(call, "b", "1", 30.1) is None  # type: ignore[arg-type]
    call.phase = Phase.PARKED
    assert key.on_key(call, "a", "*", 40.0) is None and key.on_key(call, "a", "1", 40.1) is None  # type: ignore[arg-type]
