"""The messaging core (softswitch.messaging.core): refusals, the per-sender rate limit, who gets a
message and what the sender is answered, by stepping ``now`` by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from softswitch.messaging.core import (
    NOT_FOUND,
    Delivery,
    RateLimit,
    check_body,
    find_recipient,
    recipients,
    takes_messages,
    too_many,
)
from softswitch.registrar.core import Binding
from softswitch.sip.transaction import Target

from .test_pure_imports import ROOT, contract

# --- the body -------------------------------------------------------------------------------


def test_text_within_the_cap_goes_on() -> None:
    assert check_body(b"lunch?", "text/plain;charset=utf-8", 1300) is None
    assert check_body(b"<b>lunch?</b>", "TEXT/HTML", 1300) is None
    assert check_body(b"x" * 1300, "text/plain", 1300) is None


def test_a_body_over_the_cap_gets_413() -> None:
    answer = check_body(b"x" * 1301, "text/plain", 1300)
    assert answer is not None and (answer.status, answer.reason) == (413, "Request Entity Too Large")


@pytest.mark.parametrize("ctype", ["message/cpim", "application/im-iscomposing+xml", "message/imdn+xml"])
def test_what_im_clients_send_around_text_goes_on(ctype: str) -> None:
    assert check_body(b"<x/>", ctype, 1300) is None


@pytest.mark.parametrize("ctype", ["application/sdp", "image/png", None, ""])
def test_a_body_that_is_not_text_gets_415_with_accept(ctype: str | None) -> None:
    answer = check_body(b"\x89PNG", ctype, 1300)
    assert answer is not None and answer.status == 415
    assert answer.accept is not None and "text/*" in answer.accept


def test_an_empty_message_is_not_refused_for_its_type() -> None:
    assert check_body(b"", None, 1300) is None


# --- the rate limit -------------------------------------------------------------------------


def test_a_sender_may_send_its_limit_within_the_window_then_waits_for_the_oldest_to_leave() -> None:
    limit = RateLimit(3, 10.0)
    assert [limit.take("101", t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert limit.take("101", 5.0) == pytest.approx(5.0)  # the one sent at 0 leaves the window at 10
    assert limit.take("101", 9.9) == pytest.approx(0.1)
    assert limit.take("101", 10.0) is None
    assert limit.take("101", 10.5) == pytest.approx(0.5)  # 1, 2 and 10 are in the window


def test_refused_messages_are_not_counted() -> None:
    limit = RateLimit(1, 10.0)
    assert limit.take("101", 0.0) is None
    for t in range(1, 10):
        assert limit.take("101", float(t)) is not None
    assert limit.take("101", 10.0) is None


def test_senders_are_limited_each_on_their_own() -> None:
    limit = RateLimit(1, 10.0)
    assert limit.take(("acme", "101"), 0.0) is None
    assert limit.take(("acme", "102"), 0.0) is None
    assert limit.take(("globex", "101"), 0.0) is None
    assert limit.take(("acme", "101"), 1.0) is not None


def test_a_lower_limit_from_a_reload_applies_to_what_was_sent() -> None:
    limit = RateLimit(5, 10.0)
    for t in range(4):
        assert limit.take("101", float(t)) is None
    limit.limit = 2
    assert limit.take("101", 4.0) == pytest.approx(8.0)  # 0..3 sent: the one at 2 must leave (at 12)


def test_senders_with_an_empty_window_are_forgotten() -> None:
    limit = RateLimit(2, 10.0)
    limit.take("101", 0.0)
    limit.take("102", 5.0)
    limit.forget(12.0)
    assert len(limit) == 1
    limit.forget(15.0)
    assert len(limit) == 0


def test_over_the_rate_is_503_with_whole_seconds_to_wait() -> None:
    answer = too_many(2.2)
    assert (answer.status, answer.retry_after) == (503, 3)
    assert too_many(0.01).retry_after == 1


# --- the recipient --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ext:
    number: str
    alias: str | None = None


EXTENSIONS = [Ext("101"), Ext("102", "sale01"), Ext("103", "102x")]


def test_the_target_is_an_extension_by_number_or_alias() -> None:
    assert find_recipient(EXTENSIONS, "102") == Ext("102", "sale01")
    assert find_recipient(EXTENSIONS, "sale01") == Ext("102", "sale01")
    assert find_recipient(EXTENSIONS, "999") is None
    assert find_recipient(EXTENSIONS, "") is None


def test_a_number_wins_over_an_alias_that_spells_it() -> None:
    extensions = [Ext("104", "102"), Ext("102")]
    assert find_recipient(extensions, "102") == Ext("102")


def test_unknown_and_other_accounts_numbers_get_one_answer() -> None:
    assert (NOT_FOUND.status, NOT_FOUND.reason) == (404, "Not Found")


# --- the devices ----------------------------------------------------------------------------


def binding(contact: str, port: int, registered_at: float = 0.0) -> Binding:
    uri = contact.split("<", 1)[1].split(">", 1)[0] if "<" in contact else contact
    return Binding("acme", "102", f"uri:{port}", contact, uri, 3600.0, registered_at, f"c{port}", 1,
                   Target("UDP", "127.0.0.1", port))


def test_a_contact_that_does_not_say_takes_messages() -> None:
    assert takes_messages("<sip:102@127.0.0.1:5070>")
    assert takes_messages('<sip:102@127.0.0.1:5070>;methods="INVITE,MESSAGE,BYE"')
    assert takes_messages("<sip:102@127.0.0.1:5070>;methods=\"message\"")
    assert not takes_messages('<sip:102@127.0.0.1:5070>;methods="INVITE,ACK,CANCEL,BYE"')
    assert takes_messages("not a contact <")


def test_every_device_that_takes_messages_gets_it_but_not_the_sending_one() -> None:
    a = binding("<sip:102@127.0.0.1:5071>", 5071)
    b = binding('<sip:102@127.0.0.1:5072>;methods="INVITE,BYE"', 5072)
    c = binding("<sip:102@127.0.0.1:5073>", 5073)
    assert recipients([a, b, c], Target("UDP", "127.0.0.1", 5080), 10) == [a, c]
    assert recipients([a, b, c], Target("UDP", "127.0.0.1", 5073), 10) == [a]
    assert recipients([a, b, c], Target("UDP", "127.0.0.1", 5080), 1) == [a]


# --- the sender's answer --------------------------------------------------------------------


def test_the_first_device_to_take_it_answers_the_sender_200_at_once() -> None:
    d = Delivery(2, now=100.0, wait=2.0)
    assert d.get_timer() == 102.0
    answer = d.answered(1, 200)
    assert answer is not None and (answer.status, answer.reason) == (200, "OK")
    assert d.get_timer() is None
    assert d.answered(0, 486) is None  # late answers change nothing
    assert not d.pending


def test_a_device_that_only_accepted_it_gives_202() -> None:
    d = Delivery(1, now=0.0, wait=2.0)
    answer = d.answered(0, 202)
    assert answer is not None and answer.status == 202


def test_a_failure_waits_for_the_other_devices() -> None:
    d = Delivery(2, now=0.0, wait=2.0)
    assert d.answered(0, 486) is None
    answer = d.answered(1, 200)
    assert answer is not None and answer.status == 200


def test_devices_still_silent_when_the_wait_ends_give_202() -> None:
    d = Delivery(2, now=0.0, wait=2.0)
    assert d.answered(0, 480) is None
    assert d.handle_timer(1.99) is None
    answer = d.handle_timer(2.0)
    assert answer is not None and (answer.status, answer.reason) == (202, "Accepted")
    assert d.answered(1, 200) is None
    assert d.handle_timer(5.0) is None
    assert not d.pending


def test_when_every_device_fails_the_best_failure_is_passed_on() -> None:
    d = Delivery(3, now=0.0, wait=2.0)
    assert d.answered(0, 486) is None
    assert d.answered(1, 415) is None
    answer = d.answered(2, 603)
    assert answer is not None and (answer.status, answer.reason) == (603, "Decline")  # a 6xx first (RFC 3261 §16.7)
    d = Delivery(2, now=0.0, wait=2.0)
    d.answered(0, 486)
    answer = d.answered(1, 415)
    assert answer is not None and answer.status == 415  # else the lowest


@pytest.mark.parametrize("failures", [[407], [401, 404], [None], [500, None]])
def test_a_device_failure_that_means_nothing_to_the_sender_is_480(failures: list[int | None]) -> None:
    d = Delivery(len(failures), now=0.0, wait=2.0)
    answers = [d.answered(i, status) for i, status in enumerate(failures)]
    final = answers[-1]
    assert final is not None and (final.status, final.reason) == (480, "Temporarily Unavailable")


def test_an_unknown_device_or_a_second_answer_is_ignored() -> None:
    d = Delivery(2, now=0.0, wait=2.0)
    assert d.answered(5, 200) is None
    assert d.answered(0, 486) is None
    assert d.answered(0, 200) is None
    assert d.pending == {1}


def test_a_delivery_needs_a_device() -> None:
    with pytest.raises(ValueError):
        Delivery(0, now=0.0, wait=2.0)


# --- purity ---------------------------------------------------------------------------------

PROBE = "import json, sys; before = set(sys.modules); import softswitch.messaging.core; " \
        "print(json.dumps(sorted(set(sys.modules) - before)))"


def test_the_core_loads_nothing_of_the_outside_world() -> None:
    forbidden = contract()["forbidden_modules"]
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60)
    loaded = json.loads(result.stdout)
    assert not sorted({f for m in loaded for f in forbidden if m == f or m.startswith(f + ".")})
