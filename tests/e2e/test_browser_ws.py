"""A browser phone over SIP over WebSocket (RFC 7118): JsSIP (the vendored bundle) in a headless
Chromium registers as 101 on the switch's ws listener with digest credentials, shows up as a WS
registration, and its binding goes when the page's connection closes; a wrong password is
refused as on any other transport.  With WebRTC media (ICE-lite, DTLS-SRTP, relayed to plain
RTP) it calls a baresip desk phone and is called by one, each hearing the other's tone (the
browser's microphone a tone file, its processing off)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .audio import audible_seconds, read_samples, write_tone
from .browser import READ_STATS, chromium, desk_phone, jssip_page, stats_until, switch_with_ws, wait_js
from .harness import Switch, admin, calls, end_processes, free_port, register, relayed, require_tool
from .test_transfer_baresip import baresip_home, ctrl_command
from .test_voicemail_baresip import with_mailboxes

REGISTER = """
window.state = "starting";
const ua = new JsSIP.UA({
  sockets: [new JsSIP.WebSocketInterface("ws://127.0.0.1:%(port)d")],
  uri: "sip:%(user)s@acme.example", password: "%(password)s", register: true, user_agent: "JsSIP browser test",
});
ua.on("registered", () => { window.state = "registered"; });
ua.on("registrationFailed", (e) => { window.state = "failed: " + e.cause; });
ua.on("unregistered", () => { window.state = "unregistered"; });
ua.start();
window.ua = ua;
"""


@pytest.fixture
def ws_switch(tmp_path: Path) -> Iterator[tuple[Switch, int]]:
    switch, ws_port = switch_with_ws(tmp_path / "sw")
    try:
        yield switch, ws_port
    finally:
        switch.stop()


def test_a_browser_registers_over_websocket_and_its_binding_goes_with_its_connection(
        ws_switch: tuple[Switch, int], tmp_path: Path) -> None:
    switch, ws_port = ws_switch
    page = jssip_page(tmp_path / "phone.html", REGISTER % {"port": ws_port, "user": "101", "password": "acme-101-secret"})
    with chromium() as driver:
        driver.get(page)
        assert wait_js(driver, "window.state", "registered") == "registered"
        (row,) = [r for r in switch.registrations("acme") if r["EXT"] == "101"]
        assert row["TRANSPORT"] == "WS" and ".invalid" in row["CONTACT"] and "transport=ws" in row["CONTACT"], row
        assert row["NAT"] == "yes" and "JsSIP" in row["USER-AGENT"], row
        driver.get("about:blank")  # the page and its WebSocket go
        switch.wait_for(lambda: not [r for r in switch.registrations("acme") if r["EXT"] == "101"],
                        what="the binding gone with its connection")


def test_a_browser_with_a_wrong_password_is_refused(ws_switch: tuple[Switch, int], tmp_path: Path) -> None:
    switch, ws_port = ws_switch
    page = jssip_page(tmp_path / "phone.html", REGISTER % {"port": ws_port, "user": "102", "password": "wrong"})
    with chromium() as driver:
        driver.get(page)
        assert wait_js(driver, "window.state", "failed: Rejected") == "failed: Rejected"  # JsSIP's word for a 403
    assert not [r for r in switch.registrations("acme") if r["EXT"] == "102"]


CALL = REGISTER + """
ua.on("registered", () => {
  if (window.session) return;
  // a steady tone is what noise suppression removes: the microphone's processing off
  const audio = {echoCancellation: false, noiseSuppression: false, autoGainControl: false};
  const session = ua.call("sip:%(callee)s@acme.example", {mediaConstraints: {audio, video: false},
                                                         pcConfig: {iceServers: []}});
  window.session = session;
  session.on("confirmed", () => {
    const stream = new MediaStream(session.connection.getReceivers().map((r) => r.track));
    window.speaker = new Audio();  // played out: Chrome measures the audio level of what it plays
    window.speaker.srcObject = stream;
    window.speaker.play();
    window.state = "confirmed";
  });
  session.on("failed", (e) => { window.state = "failed: " + e.cause; });
  session.on("ended", (e) => { window.state = "ended: " + e.cause; });
});
""" + READ_STATS


def test_a_browser_calls_a_desk_phone_and_each_hears_the_other(ws_switch: tuple[Switch, int], tmp_path: Path) -> None:
    """JsSIP in Chromium (its microphone a 700 Hz tone file) calls 102, a baresip phone playing
    440 Hz, over SIP over WebSocket with WebRTC media (ICE-lite, DTLS-SRTP) relayed to plain RTP:
    baresip hears the browser's tone, the browser receives the phone's voice (getStats), and the
    call is in the history with both legs' counters."""

    switch, ws_port = ws_switch
    home = tmp_path / "b102"
    phone = desk_phone(switch, home, write_tone(tmp_path / "440.wav", 440, seconds=60))
    mic = write_tone(tmp_path / "700.wav", 700, seconds=60)
    try:
        page = jssip_page(tmp_path / "phone.html", CALL % {"port": ws_port, "user": "101", "password": "acme-101-secret",
                                                           "callee": "102"})
        with chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      "--autoplay-policy=no-user-gesture-required",
                      f"--use-file-for-fake-audio-capture={mic}") as driver:
            driver.get(page)
            state = wait_js(driver, "window.state", "confirmed", timeout=30)
            assert state == "confirmed", (state, switch.log()[-3000:])
            stats = stats_until(driver, 450)  # 9 s of the phone's voice
            assert stats.get("received", 0) >= 450 and stats.get("energy", 0) > 0, stats  # heard, played out
            assert stats.get("sent", 0) >= 400, stats
            driver.execute_script("window.session.terminate();")
            wait_js(driver, "window.state", "ended: Terminated")
        rows = switch.wait_for(lambda: calls(switch), what="the call in the history")
    finally:
        end_processes([phone])
    row = rows[0]
    assert (row["caller"], row["callee"], row["disposition"]) == ("101", "102", "answered"), row
    assert row["caller_device"] == "JsSIP browser test" and int(row["billed_seconds"]) >= 8, row
    assert int(row["a_packets_in"]) >= 400 and int(row["b_packets_in"]) >= 400, row  # both legs' counters, plain RTP
    (dump,) = home.glob("dump-*-dec.wav")
    assert audible_seconds(read_samples(dump), 700) >= 8.0  # the browser's tone, at the desk phone


ANSWER = REGISTER + READ_STATS + """
ua.on("newRTCSession", (e) => {
  if (e.originator !== "remote") return;
  const session = window.session = e.session;
  session.on("confirmed", () => { window.state = "confirmed"; });
  session.on("ended", (ev) => { window.state = "ended: " + ev.cause; });
  session.on("failed", (ev) => { window.state = "failed: " + ev.cause; });
  session.answer({mediaConstraints: {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false},
                                     video: false}, pcConfig: {iceServers: []}});
});
"""


def test_a_desk_phone_calls_a_browser_which_answers(ws_switch: tuple[Switch, int], tmp_path: Path) -> None:
    """baresip 102 (440 Hz) calls 101, registered only in the browser: the switch offers WebRTC
    (actpass, its ICE-lite candidate), JsSIP answers, and the browser's tone (700 Hz) reaches
    baresip while baresip's packets reach the browser."""

    baresip = require_tool("baresip")
    switch, ws_port = ws_switch
    ctrl = free_port()
    home = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl)
    mic = write_tone(tmp_path / "700.wav", 700, seconds=60)
    page = jssip_page(tmp_path / "phone.html", ANSWER % {"port": ws_port, "user": "101", "password": "acme-101-secret"})
    phone: subprocess.Popen[Any] | None = None
    try:
        with chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-audio-capture={mic}") as driver:
            driver.get(page)
            assert wait_js(driver, "window.state", "registered") == "registered"
            phone = subprocess.Popen([baresip, "-f", str(home), "-t", "60", "-e", "/dial 101"],
                                     stdout=open(tmp_path / "102.log", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
            state = wait_js(driver, "window.state", "confirmed", timeout=30)
            assert state == "confirmed", (state, switch.log()[-3000:])
            stats = stats_until(driver, 450)
            assert stats.get("received", 0) >= 450, stats
            ctrl_command(ctrl, "hangup", "")
            assert wait_js(driver, "window.state", "ended: Terminated") == "ended: Terminated"
        rows = switch.wait_for(lambda: calls(switch), what="the call in the history")
    finally:
        end_processes([phone])
    assert (rows[0]["caller"], rows[0]["callee"], rows[0]["disposition"]) == ("102", "101", "answered"), rows[0]
    (dump,) = home.glob("dump-*-dec.wav")
    assert audible_seconds(read_samples(dump), 700) >= 8.0  # the browser's tone, at the desk phone


def test_a_call_rings_the_desk_phone_and_the_browser_and_the_browser_takes_it(ws_switch: tuple[Switch, int],
                                                                            tmp_path: Path) -> None:
    """101 is registered on a desk phone (SIPp) and in a browser (routing: simultaneous): baresip
    102 calls 101, both ring, the browser answers, and the desk phone gets CANCEL with
    "Call completed elsewhere"; the browser's voice reaches 102."""

    baresip = require_tool("baresip")
    switch, ws_port = ws_switch
    desk = free_port()
    register(switch, "101", "acme-101-secret", desk)
    ringing = switch.sipp("callee_ring_cancelled_elsewhere.xml", "-mp", str(free_port()), domain="acme.example",
                          local_port=desk, background=True, timeout=40)
    assert isinstance(ringing, subprocess.Popen)
    ctrl = free_port()
    home = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl)
    mic = write_tone(tmp_path / "700.wav", 700, seconds=60)
    page = jssip_page(tmp_path / "phone.html", ANSWER % {"port": ws_port, "user": "101", "password": "acme-101-secret"})
    procs: list[subprocess.Popen[Any]] = [ringing]
    try:
        with chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-audio-capture={mic}") as driver:
            driver.get(page)
            assert wait_js(driver, "window.state", "registered") == "registered"
            assert len([r for r in switch.registrations("acme") if r["EXT"] == "101"]) == 2  # desk and browser
            procs.append(subprocess.Popen([baresip, "-f", str(home), "-t", "60", "-e", "/dial 101"],
                                          stdout=open(tmp_path / "102.log", "w"), stderr=subprocess.STDOUT))  # noqa: SIM115
            assert wait_js(driver, "window.state", "confirmed", timeout=30) == "confirmed"
            out, _ = ringing.communicate(timeout=30)
            assert ringing.returncode == 0, out[-2000:]  # rang, then CANCEL "Call completed elsewhere"
            assert stats_until(driver, 250, timeout=10).get("received", 0) >= 250
            ctrl_command(ctrl, "hangup", "")
            assert wait_js(driver, "window.state", "ended: Terminated") == "ended: Terminated"
    finally:
        end_processes(procs)
    (dump,) = home.glob("dump-*-dec.wav")
    assert audible_seconds(read_samples(dump), 700) >= 4.0


def test_when_the_desk_phone_answers_first_the_browser_is_cancelled_and_the_desk_phone_heard(
        ws_switch: tuple[Switch, int], tmp_path: Path) -> None:
    """101 rings in a browser (registered first, so offered first: that leg of the call becomes
    WebRTC) and on a SIPp desk phone, which answers at once: the browser gets CANCEL, and the
    leg is plain RTP again for the desk phone, whose voice the switch relays to 102."""

    baresip = require_tool("baresip")
    switch, ws_port = ws_switch
    page = jssip_page(tmp_path / "phone.html", REGISTER % {"port": ws_port, "user": "101", "password": "acme-101-secret"}
                      + """
ua.on("newRTCSession", (e) => {  // rings, unanswered, until cancelled
  if (e.originator !== "remote") return;
  window.state = "ringing";
  e.session.on("failed", (ev) => { window.state = "failed: " + ev.cause; });
});
""")
    home = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl := free_port())
    procs: list[subprocess.Popen[Any]] = []
    try:
        with chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream") as driver:
            driver.get(page)
            assert wait_js(driver, "window.state", "registered") == "registered"
            desk = free_port()
            register(switch, "101", "acme-101-secret", desk)
            answering = switch.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=desk,
                                    background=True, timeout=40)
            assert isinstance(answering, subprocess.Popen)
            procs.append(answering)
            procs.append(subprocess.Popen([baresip, "-f", str(home), "-t", "60", "-e", "/dial 101"],
                                          stdout=open(tmp_path / "102.log", "w"), stderr=subprocess.STDOUT))  # noqa: SIM115
            assert wait_js(driver, "window.state", "failed: Canceled", timeout=30) == "failed: Canceled"
            switch.wait_for(lambda: relayed(switch, "b") > 100 and relayed(switch, "a", sent=True) > 100, timeout=20,
                            what="the desk phone's voice relayed to 102")
            ctrl_command(ctrl, "hangup", "")
            out, _ = answering.communicate(timeout=30)
            assert answering.returncode == 0, out[-2000:]
        (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
    finally:
        end_processes(procs)
    assert (row["caller"], row["callee"], row["answered_by"], row["callee_device"]) == ("102", "101", "101", "sipp-callee"), row
    assert int(row["b_packets_in"]) >= 100, row  # the desk phone's RTP, taken in as plain RTP


def test_a_browser_parks_a_call_that_a_desk_phone_picks_up(ws_switch: tuple[Switch, int], tmp_path: Path) -> None:
    """baresip 102 calls the browser (101), which parks it with *85 (a REFER from JsSIP); a SIPp
    phone (103) dials *801 and takes the call; the history says who parked and who took it."""

    baresip = require_tool("baresip")
    switch, ws_port = ws_switch
    home = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "440.wav", 440, seconds=60))
    mic = write_tone(tmp_path / "700.wav", 700, seconds=60)
    page = jssip_page(tmp_path / "phone.html", ANSWER % {"port": ws_port, "user": "101", "password": "acme-101-secret"})
    procs: list[subprocess.Popen[Any]] = []
    try:
        with chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-audio-capture={mic}") as driver:
            driver.get(page)
            assert wait_js(driver, "window.state", "registered") == "registered"
            procs.append(subprocess.Popen([baresip, "-f", str(home), "-t", "60", "-e", "/dial 101"],
                                          stdout=open(tmp_path / "102.log", "w"), stderr=subprocess.STDOUT))  # noqa: SIM115
            assert wait_js(driver, "window.state", "confirmed", timeout=30) == "confirmed"
            stats_until(driver, 50, timeout=10)  # a moment of the call before parking it
            driver.execute_script("window.session.refer('sip:*85@acme.example');")
            switch.wait_for(lambda: [c for c in admin(switch, "calls") if c["state"] == "parked"], timeout=15,
                            what="the call parked")
        picker = switch.sipp("call_caller.xml", "-d", "3000", "-s", "*801", "-au", "103", "-ap", "acme-103-secret",
                             "-mp", str(free_port()), users=[("103", "-")], domain="acme.example", timeout=60)
        assert isinstance(picker, subprocess.CompletedProcess) and picker.returncode == 0, picker.stdout[-2500:]
        rows = switch.wait_for(lambda: calls(switch), timeout=20, what="the call in the history")
    finally:
        end_processes(procs)
    row = next(r for r in rows if r["park_slot"])
    assert (row["park_slot"], row["parked_by"], row["retrieved_by"]) == ("*801", "101", "103"), row


KEYS = REGISTER + """
ua.on("registered", () => {
  if (window.session) return;
  const session = window.session = ua.call("sip:*97@acme.example", {mediaConstraints: {audio: true, video: false},
                                                                   pcConfig: {iceServers: []}});
  session.on("confirmed", () => { window.state = "confirmed"; });
  session.on("ended", (e) => { window.state = "ended: " + e.cause; });
  session.on("failed", (e) => { window.state = "failed: " + e.cause; });
});
"""


def test_a_key_pressed_in_the_browser_drives_the_switchs_menu(tmp_path: Path) -> None:
    """The browser dials *97 (its mailbox) and presses 0 (RFC 4733, inside SRTP): the switch
    hears the key and asks for the greeting."""
    switch, ws_port = switch_with_ws(tmp_path / "sw", accounts=with_mailboxes())
    try:
        page = jssip_page(tmp_path / "phone.html", KEYS % {"port": ws_port, "user": "101", "password": "acme-101-secret"})
        with chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream") as driver:
            driver.get(page)
            assert wait_js(driver, "window.state", "confirmed", timeout=30) == "confirmed"
            switch.wait_for(lambda: "listens to the mailbox of 101" in switch.log(), what="*97 answered")
            driver.execute_script("window.session.sendDTMF('0', {transportType: 'RFC2833', duration: 160});")
            switch.wait_for(lambda: "recording a greeting for 101" in switch.log(), timeout=20,
                            what="the key heard: the greeting asked for, then recorded")
            driver.execute_script("window.session.terminate();")
    finally:
        switch.stop()
