"""Voicemail against real phones: baresip 101 (440 Hz) calls 102, which has no phone
registered; the switch answers, plays the greeting and the tone, and records 101 until it
hangs up: one mono WAV in 102's mailbox, its row in the store, listed by the command line.
Then 102's own baresip dials *97, hears the message (the tone) and deletes it with 7.
Meanwhile 102's message-waiting subscription (SIPp, RFC 3842) hears no, yes 1/0, no 0/1
(heard), no 0/0 (deleted), and 102's person gets an e-mail with the WAV (aiosmtpd).  A
mailbox's own greeting is said from its phone (*97, then 0), and a caller who goes quiet ends
the message."""

from __future__ import annotations

import stat
import subprocess
import wave
from pathlib import Path
from typing import Any

from ..smtp import Inbox, smtp_server
from .audio import audible_seconds, read_samples, write_tone
from .harness import Switch, admin, base_config, calls, end_processes, free_port, register, relayed, require_tool
from .test_recording_baresip import heard_prompt
from .test_transfer_baresip import baresip_home, ctrl_command


def with_mailboxes() -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = base_config(0, Path("unused"))["accounts"]
    accounts[0]["voicemail"] = {}  # the default: every extension has a mailbox
    accounts[0]["people"] = [{"id": "e102", "name": "Bob", "email": "bob@acme.example"}]
    next(e for e in accounts[0]["extensions"] if e["number"] == "102")["person"] = "e102"
    return accounts


def test_a_message_left_heard_on_star_97_and_deleted_with_the_lamp_following(make_switch: Any, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    with smtp_server() as (inbox, smtp_port):
        switch: Switch = make_switch(accounts=with_mailboxes(),
                                     notify={"smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "pbx@acme.example"}})
        message_left_heard_and_deleted(switch, baresip, tmp_path, inbox)


def message_left_heard_and_deleted(switch: Switch, baresip: str, tmp_path: Path, inbox: Inbox) -> None:
    ctrl101, ctrl102 = free_port(), free_port()
    home101 = baresip_home(tmp_path / "b101", "101", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl101)
    home102 = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "1000.wav", 1000, seconds=60), ctrl102)

    # 102's message-waiting lamp, watched by SIPp from before the call to after the deletion.
    lamp = switch.sipp("mwi_watch.xml", "-au", "102", "-ap", "acme-102-secret", users=[("102", "-")],
                       domain="acme.example", background=True, timeout=120)
    assert isinstance(lamp, subprocess.Popen)
    procs: list[subprocess.Popen[Any]] = [lamp]
    logs = {ext: open(tmp_path / f"{ext}.log", "w") for ext in ("101", "102")}  # noqa: SIM115 (closed below)
    try:
        switch.wait_for(lambda: any(s["kind"] == "mailbox" for s in admin(switch, "subscriptions")), what="102's lamp")
        procs.append(subprocess.Popen([baresip, "-f", str(home101), "-t", "60", "-e", "/dial 102"], stdout=logs["101"],
                                      stderr=subprocess.STDOUT))
        switch.wait_for(lambda: "recording a message for 102" in switch.log(), timeout=30, what="the tone")
        start = relayed(switch, "a")
        switch.wait_for(lambda: relayed(switch, "a") > start + 200, timeout=20, what="4 s of 101's voice")
        ctrl_command(ctrl101, "hangup", "")
        switch.wait_for(lambda: "a message of" in switch.log(), timeout=15, what="the message kept")

        (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
        assert (row["disposition"], row["hangup_by"], row["cause"]) == ("voicemail", "caller", "message left"), row
        assert "voicemail 102" in row["path"] and heard_prompt(home101, "leave-message")
        listing = switch.cli("voicemail", "--config", str(switch.config_path), "--account", "acme").stdout
        assert "1 message in 1 mailbox" in listing and row["id"] in listing, listing
        path = switch.workdir / "voicemail" / "acme" / "102" / f"{row['id']}.wav"
        assert str(path) in listing
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        with wave.open(str(path), "rb") as w:
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 8000, 2)
            seconds = w.getnframes() / 8000
        assert 3.5 <= seconds <= 8 and audible_seconds(read_samples(path), 440) >= 3.0, seconds
        # 102's person is mailed the message, the WAV attached as it is on disk.
        ((to, mail),) = switch.wait_for(lambda: inbox.messages, what="the e-mail")
        assert to == ["bob@acme.example"] and mail["Subject"].startswith("Voicemail for 102 from 101 ("), mail["Subject"]
        (attachment,) = [part for part in mail.walk() if part.get_filename()]
        assert attachment.get_content_type() == "audio/wav" and attachment.get_payload(decode=True) == path.read_bytes()

        # 102's own phone listens: the counts, the message, the keys; 7 deletes it.
        procs.append(subprocess.Popen([baresip, "-f", str(home102), "-t", "60", "-e", "/dial *97"], stdout=logs["102"],
                                      stderr=subprocess.STDOUT))
        switch.wait_for(lambda: f"message {row['id']} of 102 heard" in switch.log(), timeout=40, what="the message played")
        ctrl_command(ctrl102, "sndcode", "7")
        switch.wait_for(lambda: f"message {row['id']} of 102 deleted" in switch.log(), what="the message deleted")
        out, _ = lamp.communicate(timeout=60)
        assert lamp.returncode == 0, out  # no, yes 1/0, no 0/1, no 0/0, unsubscribed
        rows = switch.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(calls(switch)), timeout=30,
                               what="'No more messages. Goodbye.' and the switch's hang-up")
        assert (rows[1]["callee"], rows[1]["disposition"], rows[1]["cause"]) == ("*97", "voicemail", "messages heard")
    finally:
        end_processes(procs)
        for log in logs.values():
            log.close()
    (dump,) = home102.glob("dump-*-dec.wav")
    assert audible_seconds(read_samples(dump), 440) >= 2.5  # the message, on 102's phone
    assert heard_prompt(home102, "you-have") and heard_prompt(home102, "message-deleted")
    assert not path.exists()
    listing = switch.cli("voicemail", "--config", str(switch.config_path)).stdout
    assert "0 messages in 0 mailboxes" in listing, listing


def test_do_not_disturb_sends_the_caller_to_the_mailbox_and_a_phone_not_subscribing_is_told(make_switch: Any,
                                                                                          tmp_path: Path) -> None:
    """103 is in do-not-disturb: 101's call goes to its mailbox without ringing it; 103's phone
    (SIPp, registered, never subscribing) gets an unsolicited NOTIFY, as the account asks; then
    101 hears that message with *98103 and 103's PIN."""
    baresip = require_tool("baresip")
    accounts = with_mailboxes()
    accounts[0]["voicemail"] = {"unsolicited_mwi": True}
    next(e for e in accounts[0]["extensions"] if e["number"] == "103").update(dnd=True, voicemail_pin="2468")
    switch: Switch = make_switch(accounts=accounts)
    port, ctrl = free_port(), free_port()
    register(switch, "103", "acme-103-secret", port)
    phone = switch.sipp("mwi_unsolicited.xml", local_port=port, domain="acme.example", background=True, timeout=60)
    assert isinstance(phone, subprocess.Popen)
    home = baresip_home(tmp_path / "b101", "101", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl)
    procs: list[subprocess.Popen[Any]] = [phone]

    with open(tmp_path / "101.log", "w") as log:
        try:
            procs.append(subprocess.Popen([baresip, "-f", str(home), "-t", "60", "-e", "/dial 103"], stdout=log,
                                          stderr=subprocess.STDOUT))
            switch.wait_for(lambda: "recording a message for 103" in switch.log(), timeout=30, what="103's mailbox")
            start = relayed(switch, "a")
            switch.wait_for(lambda: relayed(switch, "a") > start + 150, what="3 s of 101's message")
            ctrl_command(ctrl, "hangup", "")
            out, _ = phone.communicate(timeout=30)
            assert phone.returncode == 0, out  # the NOTIFY: yes, 1/0
            # 101 hears 103's mailbox from its own phone: *98103, then 103's PIN.
            switch.wait_for(lambda: calls(switch), what="the message's call ended")
            ctrl_command(ctrl, "dial", "*98103")
            switch.wait_for(lambda: "listens to the mailbox of 103 (1 messages), after its PIN" in switch.log(), what="*98103")
            ctrl_command(ctrl, "sndcode", "2468#")
            switch.wait_for(lambda: "of 103 heard" in switch.log(), timeout=40, what="the message, after the PIN")
        finally:
            end_processes(procs)
    row = switch.wait_for(lambda: calls(switch), what="the call in the history")[0]
    assert (row["disposition"], row["cause"]) == ("voicemail", "message left") and "voicemail 103" in row["path"], row
    assert "is in do-not-disturb; to its mailbox" in switch.log()


def test_a_greeting_said_from_the_phone_greets_the_next_caller_who_goes_quiet(make_switch: Any, tmp_path: Path) -> None:
    """102 dials *97, presses 0 and says its greeting (a 1000 Hz tone) until #.  Then 101
    calls 102 (in do-not-disturb): 101 hears that greeting instead of the standard one, says
    its message (440 Hz) and goes quiet; after the account's silence (3 s here) the switch
    says goodbye and keeps the message without its quiet end."""
    baresip = require_tool("baresip")
    accounts = with_mailboxes()
    accounts[0]["voicemail"] = {"silence_seconds": 3, "email": False}
    next(e for e in accounts[0]["extensions"] if e["number"] == "102").update(dnd=True)
    switch: Switch = make_switch(accounts=accounts)
    ctrl101, ctrl102 = free_port(), free_port()
    home102 = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "1000.wav", 1000, seconds=60), ctrl102)
    said = write_tone(tmp_path / "440.wav", 440, seconds=9, then_silence=50)  # the greeting's ~3.5 s, then ~5 s
    home101 = baresip_home(tmp_path / "b101", "101", switch, said, ctrl101)
    greeting = switch.workdir / "voicemail" / "acme" / "102" / "greeting.wav"
    procs: list[subprocess.Popen[Any]] = []
    logs = {ext: open(tmp_path / f"{ext}.log", "w") for ext in ("101", "102")}  # noqa: SIM115 (closed below)
    try:
        procs.append(subprocess.Popen([baresip, "-f", str(home102), "-t", "60", "-e", "/dial *97"], stdout=logs["102"],
                                      stderr=subprocess.STDOUT))
        switch.wait_for(lambda: relayed(switch, "a") > 10, what="102's phone listening")
        ctrl_command(ctrl102, "sndcode", "0")
        switch.wait_for(lambda: "recording a greeting for 102" in switch.log(), timeout=20, what="the tone")
        start = relayed(switch, "a")
        switch.wait_for(lambda: relayed(switch, "a") > start + 150, what="3 s of 102's greeting")
        ctrl_command(ctrl102, "sndcode", "#")
        switch.wait_for(lambda: "102@acme recorded its greeting" in switch.log(), what="the greeting kept")
        switch.wait_for(lambda: calls(switch), timeout=30, what="'No more messages. Goodbye.' and the hang-up")
        assert stat.S_IMODE(greeting.stat().st_mode) == 0o600
        assert audible_seconds(read_samples(greeting), 1000) >= 2.5

        procs.append(subprocess.Popen([baresip, "-f", str(home101), "-t", "60", "-e", "/dial 102"], stdout=logs["101"],
                                      stderr=subprocess.STDOUT))
        rows = switch.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(calls(switch)), timeout=40,
                               what="101's message ended by its silence")
    finally:
        end_processes(procs)
        for log in logs.values():
            log.close()
    row = next(r for r in rows if r["callee"] == "102")
    assert (row["disposition"], row["hangup_by"], row["cause"]) == ("voicemail", "switch", "message left"), row
    assert heard_prompt(home102, "record-greeting") and heard_prompt(home102, "greeting-saved")
    (dump,) = home101.glob("dump-*-dec.wav")
    heard = read_samples(dump)
    assert audible_seconds(heard, 1000) >= 2.0 and not heard_prompt(home101, "not-available")  # 102's own greeting
    message = switch.workdir / "voicemail" / "acme" / "102" / f"{row['id']}.wav"
    samples = read_samples(message)
    voice = audible_seconds(samples, 440)
    assert voice >= 3.0 and len(samples) / 8000 - voice <= 1.5, (len(samples) / 8000, voice)  # the quiet end left out
