"""The browser phone's page, /phone on the switch's web port, in a headless Chromium: an
extension signs in with its own SIP credentials, calls a baresip desk phone, holds and resumes
it (re-INVITEs both ways through the WebRTC edge), hangs up, and finds the call in its log;
a wrong password leaves it at the sign-in form with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .audio import write_tone
from .browser import chromium, desk_phone, switch_with_ws, wait_js
from .harness import end_processes, free_port, relayed


def sign_in(driver: Any, number: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "number").clear()
    driver.find_element(By.ID, "number").send_keys(number)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def test_an_extension_signs_in_calls_holds_and_hangs_up_from_the_page(tmp_path: Path) -> None:
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
        with chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      "--autoplay-policy=no-user-gesture-required", f"--use-file-for-fake-audio-capture={mic}") as driver:
            driver.get(f"http://127.0.0.1:{api}/phone?domain=acme.example")
            assert driver.find_element(By.ID, "domain").get_attribute("value") == "acme.example"
            sign_in(driver, "101", "wrong-password")
            assert wait_js(driver, "document.getElementById('status').textContent",
                           "Sign-in failed: Rejected") == "Sign-in failed: Rejected"
            assert driver.execute_script("return document.body.dataset.state;") == "login"

            sign_in(driver, "101", "acme-101-secret")
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"
            driver.find_element(By.ID, "dial").send_keys("102")
            driver.find_element(By.ID, "call").click()
            assert wait_js(driver, "document.body.dataset.state", "in-call", timeout=30) == "in-call"
            switch.wait_for(lambda: relayed(switch, "a") > 150, timeout=20, what="3 s of the browser's voice relayed")
            assert relayed(switch, "b") > 100  # and the desk phone's, towards the browser

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
            driver.save_screenshot(str(tmp_path / "phone.png"))
    finally:
        end_processes([phone])
        switch.stop()
