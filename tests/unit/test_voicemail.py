"""Voicemail in the call core: a call nobody takes goes to the callee's mailbox
(``Call.fallback``), and the switch takes the message (b2bua/voicemail.py)."""

from __future__ import annotations

from softswitch.b2bua.actions import (
    Announce,
    CallEnded,
    MessageTaken,
    Route,
    SendRequest,
    Stage,
    StopPlaying,
    TakeMessage,
)
from softswitch.b2bua.call import Call
from softswitch.b2bua.voicemail import Mailbox, greeting
from softswitch.sdp.model import parse_sdp

from .test_call_core import Tx, answer_to, bare_call, fork_invites, in_dialog, of, responses


def waiting_call(fallback: str | None = "voicemail:102") -> Call:
    call = bare_call()
    call.fallback = fallback
    return call


def stage(devices: int = 1, timeout: float = 20.0) -> Stage:
    from softswitch.b2bua.actions import Device
    from softswitch.sip.transaction import Target

    devs = tuple(Device(f"sip:102@10.0.0.{i + 1}:5060", Target("UDP", "198.51.100.1", 6000 + i), f"phone{i}")
                 for i in range(devices))
    return Stage(devs, timeout, "sip:102@acme.example", "102", "102")


def test_a_call_nobody_takes_goes_to_the_mailbox_instead_of_failing() -> None:
    call = waiting_call()  # no phone registered
    out = call.start([stage(0)], 1000.0)
    assert of(out, Route) == [Route("voicemail:102", "no registered device")] and not call.a_final_sent
    assert [r.status for r in responses(out)] == [100]

    call = waiting_call()  # busy everywhere
    (fork,) = fork_invites(call.start([stage()], 1000.0))
    out = call.on_response(fork.ref, answer_to(fork.request, 486, "t0"), 1001.0)
    assert of(out, Route) == [Route("voicemail:102", "486 Busy Here")] and of(out, CallEnded) == []

    call = waiting_call()  # nobody answers in time
    (fork,) = fork_invites(call.start([stage(timeout=20.0)], 1000.0))
    call.on_response(fork.ref, answer_to(fork.request, 180, "t0"), 1000.5)
    out = call.handle_timer(1020.0)
    assert of(out, Route) == [Route("voicemail:102", "no answer in 20 s")]
    assert [s.request.method for s in of(out, SendRequest)] == ["CANCEL"]
    assert call.fallback is None  # once

    call = waiting_call(None)  # no mailbox: the failure, as ever
    out = call.start([stage(0)], 1000.0)
    assert [r.status for r in responses(out)][-1] == 480 and of(out, Route) == []


def taking() -> tuple[Call, Mailbox, list]:  # type: ignore[type-arg]
    call = waiting_call()
    call.start([stage(0)], 1000.0)
    mailbox = call.add(Mailbox("102", 120.0), first=True)
    out = mailbox.take(call, greeting("102", None), 1000.1)
    return call, mailbox, out


def test_the_switch_answers_plays_the_greeting_then_records_until_hash() -> None:
    call, mailbox, out = taking()
    (ok,) = [r for r in responses(out) if r.status == 200]
    assert parse_sdp(ok.body).media[0].line.port == 10000  # the switch's session on the caller's relay port
    assert of(out, Announce) == [Announce("a", ("one", "zero", "two", "not-available", "leave-message", "beep"), 0)]
    assert greeting("102", "closed-greeting") == ("closed-greeting", "beep")
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.2)
    assert call.on_key("a", "5", 1001.0) == []  # keys during the greeting: nothing but #
    assert call.announced("a", 1003.0) == [TakeMessage("102")]
    assert call.get_timer() == 1123.0  # the maximum length
    out = call.on_key("a", "#", 1010.0)
    assert out == [MessageTaken(), Announce("a", ("goodbye",), 0)]
    out = call.announced("a", 1011.0)
    assert [s.request.method for s in of(out, SendRequest)] == ["BYE"]
    (ended,) = of(out, CallEnded)
    assert (ended.record.disposition, ended.record.hangup_by, ended.record.cause) == ("voicemail", "switch", "message left")


def test_the_caller_hanging_up_leaves_the_message_and_the_maximum_cuts_it() -> None:
    call, mailbox, _ = taking()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.2)
    assert call.on_key("a", "#", 1001.0) == [StopPlaying("a"), TakeMessage("102")]  # # skips the greeting
    out = call.on_request("a", Tx("bye"), in_dialog(call, "a", "BYE", 3), 1005.0)
    assert [r.status for r in responses(out)] == [200]
    (ended,) = of(out, CallEnded)
    assert (ended.record.disposition, ended.record.hangup_by, ended.record.cause) == ("voicemail", "caller", "message left")

    call, mailbox, _ = taking()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.2)
    call.announced("a", 1003.0)
    assert call.handle_timer(1122.9) == []
    assert call.handle_timer(1123.0) == [MessageTaken(), Announce("a", ("goodbye",), 0)]

    call, mailbox, _ = taking()  # silent for the account's time (the recorder says)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.2)
    assert call.silent(1002.0) == []  # not during the greeting
    call.announced("a", 1003.0)
    assert call.silent(1015.0) == [MessageTaken(), Announce("a", ("goodbye",), 0)]
    assert call.get_timer() is None  # the maximum no longer waited for

    call, mailbox, _ = taking()  # gone before the tone
    out = call.on_request("a", Tx("bye"), in_dialog(call, "a", "BYE", 3), 1001.0)
    assert of(out, CallEnded)[0].record.cause == "hung up before the tone" and of(out, TakeMessage) == []


def test_a_phone_hears_its_messages_new_first_and_keys_act_on_each() -> None:
    from softswitch.b2bua.actions import MessageHeard
    from softswitch.b2bua.voicemail import Listening

    call = waiting_call(None)
    call.accept(1000.0)
    listening = call.add(Listening("102", [("m1", "/vm/m1.wav", True), ("m2", "/vm/m2.wav", False)]), first=True)
    out = listening.start(call, 1000.0)
    assert [r.status for r in responses(out)][-1] == 200
    assert of(out, Announce) == [Announce("a", ("you-have", "one", "new-messages", "one", "old-messages", "greeting-key"), 0)]
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    assert call.announced("a", 1003.0) == [Announce("a", ("file:/vm/m1.wav",), 0)]
    assert call.announced("a", 1008.0) == [MessageHeard("102", "m1"), Announce("a", ("listen-keys",), 0)]
    assert call.on_key("a", "5", 1009.0) == [StopPlaying("a"), Announce("a", ("file:/vm/m1.wav",), 0)]  # again
    out = call.on_key("a", "7", 1010.0)  # delete it: the next one follows the word
    assert out == [StopPlaying("a"), MessageHeard("102", "m1", deleted=True),
                   Announce("a", ("message-deleted", "file:/vm/m2.wav"), 0)]
    assert call.announced("a", 1015.0) == [Announce("a", ("listen-keys",), 0)]  # m2 was old already
    assert call.get_timer() == 1025.0 and call.handle_timer(1025.0) == [Announce("a", ("no-more-messages", "goodbye"), 0)]
    out = call.announced("a", 1027.0)
    assert [s.request.method for s in of(out, SendRequest)] == ["BYE"]
    assert of(out, CallEnded)[0].record.cause == "messages heard"


def test_keys_skip_and_keep_and_an_empty_mailbox_says_so() -> None:
    from softswitch.b2bua.actions import MessageHeard
    from softswitch.b2bua.voicemail import Listening

    call = waiting_call(None)
    call.accept(1000.0)
    listening = call.add(Listening("102", [("m1", "/vm/m1.wav", True)]), first=True)
    listening.start(call, 1000.0)
    assert call.on_key("a", "6", 1001.0) == []  # not during the counts
    call.announced("a", 1003.0)
    assert call.on_key("a", "9", 1004.0) == [StopPlaying("a"), MessageHeard("102", "m1"),  # kept, heard
                                             Announce("a", ("no-more-messages", "goodbye"), 0)]
    call = waiting_call(None)
    call.accept(1000.0)
    out = call.add(Listening("102", []), first=True).start(call, 1000.0)
    assert of(out, Announce)[0].prompts == ("you-have", "zero", "new-messages", "zero", "old-messages", "greeting-key")
    assert call.announced("a", 1003.0) == [Announce("a", ("no-more-messages", "goodbye"), 0)]


def test_another_phone_needs_the_mailbox_pin_three_tries_then_goodbye() -> None:
    from softswitch.b2bua.voicemail import Listening

    call = waiting_call(None)
    call.accept(1000.0)
    listening = call.add(Listening("103", [("m1", "/vm/m1.wav", True)], pin="2468"), first=True)
    out = listening.start(call, 1000.0)
    assert of(out, Announce) == [Announce("a", ("enter-pin",), 0)]
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    for key in "1234":
        assert call.on_key("a", key, 1001.0) == []
    assert call.on_key("a", "#", 1002.0) == [StopPlaying("a"), Announce("a", ("wrong-pin", "enter-pin"), 0)]
    assert call.get_timer() == 1012.0  # the next try, waited for
    assert call.handle_timer(1012.0) == [StopPlaying("a"), Announce("a", ("wrong-pin", "enter-pin"), 0)]  # nothing typed
    for key in "2468#":
        out = call.on_key("a", key, 1013.0)
    assert out == [StopPlaying("a"), Announce("a", ("you-have", "one", "new-messages", "zero", "old-messages", "greeting-key"),
                                              0)]
    assert call.announced("a", 1015.0) == [Announce("a", ("file:/vm/m1.wav",), 0)]

    call = waiting_call(None)
    call.accept(1000.0)
    call.add(Listening("103", [], pin="2468"), first=True).start(call, 1000.0)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    for _ in range(2):
        call.on_key("a", "#", 1001.0)
    assert call.on_key("a", "#", 1002.0) == [StopPlaying("a"), Announce("a", ("wrong-pin", "goodbye"), 0)]
    out = call.announced("a", 1004.0)
    assert [s.request.method for s in of(out, SendRequest)] == ["BYE"]


def test_zero_records_the_mailboxs_own_greeting_then_the_messages_go_on() -> None:
    from softswitch.b2bua.voicemail import GREETING_MAX, Listening

    call = waiting_call(None)
    call.accept(1000.0)
    call.add(Listening("102", [("m1", "/vm/m1.wav", True), ("m2", "/vm/m2.wav", True)]), first=True).start(call, 1000.0)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    call.announced("a", 1003.0)  # the counts said: m1 plays
    call.announced("a", 1008.0)  # m1 heard: the keys
    assert call.on_key("a", "0", 1009.0) == [StopPlaying("a"), Announce("a", ("record-greeting", "beep"), 0)]
    assert call.on_key("a", "6", 1009.5) == []  # no message keys while the greeting is asked for
    assert call.announced("a", 1012.0) == [TakeMessage("102", greeting=True)]
    assert call.get_timer() == 1012.0 + GREETING_MAX
    assert call.on_key("a", "#", 1016.0) == [MessageTaken(True), Announce("a", ("greeting-saved",), 0)]
    assert call.announced("a", 1017.0) == [Announce("a", ("file:/vm/m2.wav",), 0)]  # on with the next message

    assert call.on_key("a", "0", 1018.0)[1:] == [Announce("a", ("record-greeting", "beep"), 0)]  # during m2
    assert call.on_key("a", "#", 1018.5) == [StopPlaying("a"), TakeMessage("102", greeting=True)]  # # skips the prompt
    assert call.on_key("a", "#", 1019.0) == [MessageTaken(False), Announce("a", ("greeting-removed",), 0)]  # < 1 s
    assert call.announced("a", 1020.0) == [Announce("a", ("file:/vm/m2.wav",), 0)]  # m2 again, not yet heard


def test_a_greeting_ends_with_silence_or_its_maximum_and_the_empty_mailbox_says_goodbye_after() -> None:
    from softswitch.b2bua.voicemail import GREETING_MAX, Listening

    call = waiting_call(None)
    call.accept(1000.0)
    call.add(Listening("102", []), first=True).start(call, 1000.0)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    call.on_key("a", "0", 1001.0)  # during the counts
    call.announced("a", 1004.0)
    assert call.silent(1010.0) == [MessageTaken(True), Announce("a", ("greeting-saved",), 0)]
    assert call.announced("a", 1011.0) == [Announce("a", ("no-more-messages", "goodbye"), 0)]
    call.on_key("a", "0", 1012.0)  # once more, during the goodbye
    call.announced("a", 1015.0)
    assert call.handle_timer(1015.0 + GREETING_MAX) == [MessageTaken(True), Announce("a", ("greeting-saved",), 0)]


def test_a_wrong_pin_cannot_change_the_greeting() -> None:
    from softswitch.b2bua.voicemail import Listening

    call = waiting_call(None)
    call.accept(1000.0)
    call.add(Listening("103", [], pin="2468"), first=True).start(call, 1000.0)
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1000.1)
    for _ in range(3):
        call.on_key("a", "#", 1001.0)  # three wrong PINs: goodbye
    assert call.on_key("a", "0", 1002.0) == []
