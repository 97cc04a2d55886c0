"""The browser phone's page, /phone on the switch's web port, in a headless Chromium: an
extension signs in with its own SIP credentials, calls a baresip desk phone and each hears the
other's tone for 8 s and more, holds and resumes it (re-INVITEs both ways through the WebRTC
edge), hangs up, and finds the call in its log and the switch's history with both legs'
counters; a wrong password leaves it at the sign-in form with the reason.  A one-time link
from ``softswitch extensions web-link`` signs the page in (in Vietnamese) and it answers a call
from the desk phone; the link does not open a second time."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .audio import audible_seconds, read_samples, write_tone
from .browser import chromium, desk_phone, keep_peer_connections, stats_until, switch_with_ws, wait_js
from .harness import admin, calls, end_processes, free_port, relayed, require_tool
from .test_transfer_baresip import baresip_home, ctrl_command

BROWSER = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
           "--autoplay-policy=no-user-gesture-required", "--window-size=412,915")  # a phone-sized screen


def sign_in(driver: Any, number: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "number").clear()
    driver.find_element(By.ID, "number").send_keys(number)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def test_an_extension_signs_in_calls_holds_and_hangs_up_from_the_page(tmp_path: Path, artefacts: Path) -> None:
    from selenium.webdriver.common.by import By

    api = free_port()
    switch, _ = switch_with_ws(tmp_path / "sw", api={"address": "127.0.0.1", "port": api})
    try:
        phone = desk_phone(switch, tmp_path / "b102", write_tone(tmp_path / "440.wav", 440, seconds=60))
    except BaseException:
        switch.stop()
        raise
    mic = write_tone(tmp_path / "700.wav", 700, seconds=60)
    try:
        with chromium(*BROWSER, f"--use-file-for-fake-audio-capture={mic}") as driver:
            keep_peer_connections(driver)
            driver.get(f"http://127.0.0.1:{api}/phone?domain=acme.example")
            assert driver.find_element(By.ID, "domain").get_attribute("value") == "acme.example"
            sign_in(driver, "101", "wrong-password")
            assert wait_js(driver, "document.getElementById('status').textContent",
                           "Sign-in failed: Rejected") == "Sign-in failed: Rejected"
            assert driver.execute_script("return document.body.dataset.state;") == "login"

            sign_in(driver, "101", "acme-101-secret")
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"
            # a steady tone is what noise suppression takes away: the microphone's clean-up off
            driver.find_element(By.ID, "processing").click()
            assert driver.execute_script("return localStorage.getItem('softswitch.processing');") == "off"
            driver.find_element(By.ID, "dial").send_keys("102")
            driver.find_element(By.ID, "call").click()
            assert wait_js(driver, "document.body.dataset.state", "in-call", timeout=30) == "in-call"
            stats = stats_until(driver, 450)  # 9 s of the desk phone's voice, played out by the page
            assert stats.get("received", 0) >= 450 and stats.get("energy", 0) > 0, stats
            assert stats.get("sent", 0) >= 400, stats

            driver.find_element(By.ID, "hold").click()
            assert wait_js(driver, "document.getElementById('hold').getAttribute('aria-pressed')", "true") == "true"
            driver.find_element(By.ID, "hold").click()
            assert wait_js(driver, "document.getElementById('hold').getAttribute('aria-pressed')", "false") == "false"
            resumed = relayed(switch, "a")
            switch.wait_for(lambda: relayed(switch, "a") > resumed + 50, what="the browser's voice again after resume")

            driver.find_element(By.ID, "hangup").click()
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"
            entries = driver.execute_script("return [...document.querySelectorAll('#log li')].map(e => e.textContent);")
            assert len(entries) == 1 and "→ 102 · hung up" in entries[0], entries
            driver.save_screenshot(str(artefacts / "phone.png"))
        (row,) = switch.wait_for(lambda: calls(switch), what="the call in the history")
    finally:
        end_processes([phone])
        switch.stop()
    assert (row["caller"], row["callee"], row["disposition"]) == ("101", "102", "answered"), row
    assert row["caller_device"] == "softswitch browser phone" and int(row["billed_seconds"]) >= 8, row
    assert int(row["a_packets_in"]) >= 400 and int(row["b_packets_in"]) >= 400, row  # both legs' counters
    (dump,) = (tmp_path / "b102").glob("dump-*-dec.wav")
    assert audible_seconds(read_samples(dump), 700) >= 8.0  # the browser's tone, at the desk phone


def test_a_web_link_signs_the_page_in_once_and_it_answers_the_desk_phone(tmp_path: Path, artefacts: Path) -> None:
    from selenium.webdriver.common.by import By

    baresip = require_tool("baresip")
    api = free_port()
    switch, _ = switch_with_ws(tmp_path / "sw", api={"address": "127.0.0.1", "port": api})
    phone: subprocess.Popen[bytes] | None = None
    try:
        made = switch.cli("extensions", "web-link", "101", "--account", "acme", "--valid", "5m",
                          "--config", str(switch.config_path))
        assert made.returncode == 0, made.stdout + made.stderr
        link = made.stdout.strip()
        assert link.startswith(f"http://127.0.0.1:{api}/phone?domain=acme.example#link="), link
        home = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "440.wav", 440, seconds=60),
                            ctrl := free_port())
        with chromium(*BROWSER, "--lang=vi-VN", "--accept-lang=vi-VN,vi") as driver:
            keep_peer_connections(driver)
            driver.get(link)
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"
            assert driver.find_element(By.ID, "status").text == "Sẵn sàng"  # the browser's language
            assert driver.execute_script("return location.hash;") == ""  # the link is gone from the address
            phone = subprocess.Popen([baresip, "-f", str(home), "-t", "60", "-e", "/dial 101"],
                                     stdout=open(tmp_path / "102.log", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
            assert wait_js(driver, "document.body.dataset.state", "ringing", timeout=30) == "ringing"
            assert driver.find_element(By.ID, "caller").text == "Cuộc gọi từ 102"
            driver.find_element(By.ID, "accept").click()
            assert wait_js(driver, "document.body.dataset.state", "in-call") == "in-call"
            assert stats_until(driver, 100).get("received", 0) >= 100  # the desk phone's voice
            ctrl_command(ctrl, "hangup", "")
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"
            entries = driver.execute_script("return [...document.querySelectorAll('#log li')].map(e => e.textContent);")
            assert len(entries) == 1 and "← 102 · đã kết thúc" in entries[0], entries
            driver.save_screenshot(str(artefacts / "phone-vi.png"))

            driver.get("about:blank")
            driver.get(link)  # the same link again: refused, the page stays at the sign-in form
            assert wait_js(driver, "document.body.dataset.state + ' ' + document.getElementById('status').textContent",
                           "login Đăng nhập không thành công: This link was used already: ask for a new one.") == \
                "login Đăng nhập không thành công: This link was used already: ask for a new one."
    finally:
        end_processes([phone] if phone else [])
        switch.stop()


def test_the_page_transfers_a_call_and_parks_one_that_a_desk_phone_picks_up(tmp_path: Path) -> None:
    """102 (baresip) calls the page (101) twice: the first call the page's Transfer button sends
    to 103 (baresip), whose voice 102 then hears; the second its Park button parks, and a SIPp
    phone (104) picks it up with *801."""
    from selenium.webdriver.common.by import By

    baresip = require_tool("baresip")
    api = free_port()
    switch, _ = switch_with_ws(tmp_path / "sw", api={"address": "127.0.0.1", "port": api})
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ctrl = free_port()
        home = baresip_home(tmp_path / "b102", "102", switch, write_tone(tmp_path / "440.wav", 440, seconds=60), ctrl)
        procs.append(subprocess.Popen([baresip, "-f", str(home), "-t", "60"], stdout=open(tmp_path / "102.log", "w"),  # noqa: SIM115
                                      stderr=subprocess.STDOUT))
        procs.append(desk_phone(switch, tmp_path / "b103", write_tone(tmp_path / "1000.wav", 1000, seconds=60), ext="103"))
        switch.wait_for(lambda: len(switch.registrations("acme")) == 2, what="102 and 103 registered")
        with chromium(*BROWSER, f"--use-file-for-fake-audio-capture={write_tone(tmp_path / '700.wav', 700, seconds=60)}") \
                as driver:
            keep_peer_connections(driver)
            driver.get(f"http://127.0.0.1:{api}/phone?domain=acme.example")
            sign_in(driver, "101", "acme-101-secret")
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"

            def answer_a_call_from_102() -> None:
                ctrl_command(ctrl, "dial", "101")
                assert wait_js(driver, "document.body.dataset.state", "ringing", timeout=30) == "ringing"
                driver.find_element(By.ID, "accept").click()
                assert wait_js(driver, "document.body.dataset.state", "in-call") == "in-call"
                switch.wait_for(lambda: relayed(switch, "a") > 50, what="102's voice relayed to the page")

            answer_a_call_from_102()
            driver.find_element(By.ID, "transfer-to").send_keys("103")
            driver.find_element(By.ID, "transfer").click()
            switch.wait_for(lambda: "transfers to 103" in switch.log(), what="the page's REFER")
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"  # the page is out of it
            switch.wait_for(lambda: relayed(switch, "b") > 350, timeout=30, what="5 s of 103's voice towards 102")
            ctrl_command(ctrl, "hangup", "")
            (transferred,) = switch.wait_for(lambda: calls(switch), what="the transferred call in the history")

            answer_a_call_from_102()
            driver.find_element(By.ID, "park").click()
            switch.wait_for(lambda: [c for c in admin(switch, "calls") if c["state"] == "parked"], timeout=15,
                            what="the call parked")
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"
        picker = switch.sipp("call_caller.xml", "-d", "3000", "-s", "*801", "-au", "104", "-ap", "acme-104-secret",
                             "-mp", str(free_port()), users=[("104", "-")], domain="acme.example", timeout=60)
        assert isinstance(picker, subprocess.CompletedProcess) and picker.returncode == 0, picker.stdout[-2500:]
        rows = switch.wait_for(lambda: calls(switch) if len(calls(switch)) == 2 else [], timeout=20,
                               what="the parked call in the history")
    finally:
        end_processes(procs)
        switch.stop()
    assert (transferred["caller"], transferred["callee"]) == ("102", "101"), transferred
    assert transferred["path"] == "101 > transfer 103 by 101", transferred
    assert int(transferred["b_lost"]) < 50, transferred  # the browser's stream, then 103's: not one stream's loss
    first = sorted(home.glob("dump-*-dec.wav"))[0]  # 102's first call
    assert audible_seconds(read_samples(first), 1000) >= 3.0  # 102 heard 103 after the transfer
    parked = next(r for r in rows if r["park_slot"])
    assert (parked["park_slot"], parked["parked_by"], parked["retrieved_by"]) == ("*801", "101", "104"), parked
