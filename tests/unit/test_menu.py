"""The key-press menu core: barge-in, options, wrong keys, timeouts, attempts, fallback and
direct dial of extension numbers, on an explicit clock."""

from __future__ import annotations

from softswitch.config.schema import Menu
from softswitch.dialplan.menu import INTER_DIGIT, Go, MenuRun, Say

MAIN = Menu(name="main", prompt="sample-menu", options={"1": "600", "2": "102", "0": "menu:other"},
            timeout=5, attempts=2, fallback="101")


def test_a_key_after_the_prompt_goes_to_its_option() -> None:
    run = MenuRun(MAIN)
    assert run.start() == Say(("sample-menu",))
    run.played(10.0)
    assert run.deadline == 15.0
    assert run.key("1", 12.0) == Go("600", "key 1")
    assert run.deadline is None


def test_a_key_during_the_prompt_stops_it_and_counts() -> None:
    run = MenuRun(MAIN)
    run.start()
    assert run.playing
    assert run.key("2", 1.0) == Go("102", "key 2")
    assert not run.playing


def test_silence_replays_the_prompt_then_falls_back() -> None:
    run = MenuRun(MAIN)
    run.start()
    run.played(0.0)
    assert run.due(4.9) is None
    assert run.due(5.0) == Say(("sample-menu",))  # the second attempt
    run.played(8.0)
    assert run.due(13.0) == Go("101", "no key")


def test_a_wrong_key_says_so_and_counts_as_an_attempt() -> None:
    run = MenuRun(MAIN)
    run.start()
    run.played(0.0)
    assert run.key("7", 1.0) == Say(("invalid", "sample-menu"))
    assert run.deadline is None  # not until the prompt has played again
    run.played(6.0)
    assert run.key("#", 7.0) == Go("101", "wrong key")


def test_direct_dial_collects_an_extension_and_still_takes_single_key_options() -> None:
    menu = MAIN.model_copy(update={"direct_dial": True})
    run = MenuRun(menu, extensions=["101", "102", "205"])
    run.start()
    run.played(0.0)
    assert run.key("1", 1.0) is None  # 1 is an option, but also begins 101 and 102: wait
    assert run.key("0", 1.5) is None
    assert run.key("2", 2.0) == Go("102", "dialled 102")
    run = MenuRun(menu, extensions=["101", "102", "205"])
    run.start()
    run.played(0.0)
    assert run.key("1", 1.0) is None
    assert run.due(1.0 + INTER_DIGIT) == Go("600", "key 1")  # a pause: the option
    run = MenuRun(menu, extensions=["101", "102", "205"])
    run.start()
    run.played(0.0)
    assert run.key("2", 1.0) is None
    assert run.key("0", 1.5) is None
    assert run.due(1.5 + INTER_DIGIT) == Say(("invalid", "sample-menu"))  # "20" is neither an option nor a number
    assert run.key("0", 1.0) == Go("menu:other", "key 0")  # nothing begins with 0: the option at once


def test_without_direct_dial_extension_numbers_are_just_keys() -> None:
    run = MenuRun(MAIN, extensions=["101", "102"])
    run.start()
    assert run.key("1", 0.0) == Go("600", "key 1")
