"""The operator's console in a headless Chromium: sign in with an API token (a wrong one is
refused), the dashboard shows a live call within 2 s of it starting (server-sent events swapped
in by htmx), an extension is granted through the form and its login information shown, an
invalid grant lists the config's problems and changes nothing, labels in Vietnamese, and an
account's token sees only its account.  Screenshots of every page are kept with the test."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .browser import chromium, wait_js
from .harness import Switch, admin, end_processes, free_port, register


def token(switch: Switch, name: str, *account: str) -> str:
    made = switch.cli("api", "token", name, *(("--account", account[0]) if account else ()), "--config",
                      str(switch.config_path))
    assert made.returncode == 0, made.stdout + made.stderr
    return re.findall(r"^Token\s+(ss_\S+)$", made.stdout, re.M)[0]


def sign_in(driver: Any, base: str, secret: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console/login")
    driver.find_element(By.ID, "token").send_keys(secret)
    driver.find_element(By.ID, "sign-in").click()


def test_the_console_shows_live_calls_grants_extensions_and_keeps_accounts_apart(make_switch: Any,
                                                                               tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    api = free_port()
    switch: Switch = make_switch(api={"address": "127.0.0.1", "port": api})
    base = f"http://127.0.0.1:{api}"
    ops, globex = token(switch, "ops"), token(switch, "globex-admin", "globex")
    made = switch.cli("people", "add", "e100", "--account", "acme", "--name", "Lan Nguyen", "--config",
                      str(switch.config_path))
    assert made.returncode == 0, made.stdout + made.stderr
    shots = tmp_path / "screenshots"
    shots.mkdir()
    procs: list[subprocess.Popen[Any]] = []
    with chromium() as driver:
        sign_in(driver, base, "ss_not-a-token")
        assert "not valid" in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
        driver.save_screenshot(str(shots / "login.png"))

        sign_in(driver, base, ops)
        assert wait_js(driver, "location.pathname", "/console") == "/console"
        assert "acme" in driver.find_element(By.ID, "registrations").text
        # A call starts: the dashboard shows it within 2 s, without a reload.
        desk = free_port()
        register(switch, "102", "acme-102-secret", desk)
        callee = switch.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=desk,
                             background=True, timeout=40)
        assert isinstance(callee, subprocess.Popen)
        procs.append(callee)
        caller = switch.sipp("call_caller.xml", "-d", "6000", "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                             "-mp", str(free_port()), users=[("101", "-")], domain="acme.example", background=True,
                             timeout=40)
        assert isinstance(caller, subprocess.Popen)
        procs.append(caller)
        switch.wait_for(lambda: [c for c in admin(switch, "calls") if c["state"] == "answered"], what="the call up")
        answered_at = time.monotonic()
        shown = wait_js(driver, "document.querySelectorAll('#live-calls tbody tr').length", 1, timeout=5)
        assert shown == 1 and time.monotonic() - answered_at <= 2.5, (shown, time.monotonic() - answered_at)
        row = driver.find_element(By.CSS_SELECTOR, "#live-calls tbody tr").text
        assert "101" in row and "102" in row and "answered" in row, row
        driver.save_screenshot(str(shots / "dashboard.png"))
        end_processes(procs)

        # Grant through the form: the login information; then an invalid grant: problems, nothing changed.
        driver.get(f"{base}/console/extensions?account=acme")
        driver.find_element(By.ID, "grant-number").send_keys("306")
        driver.find_element(By.ID, "grant-alias").send_keys("lan")
        driver.find_element(By.ID, "grant-submit").click()
        info = driver.find_element(By.ID, "login-info").text
        assert "Username 306" in info and "Domain acme.example" in info, info
        assert "306" in driver.find_element(By.ID, "extensions").text
        driver.save_screenshot(str(shots / "extensions-granted.png"))
        before = switch.config_path.read_text()
        driver.find_element(By.ID, "grant-number").send_keys("0307")
        driver.find_element(By.ID, "grant-submit").click()
        problems = driver.find_element(By.ID, "problems").text
        assert re.search(r"switch\.yaml:\d+: accounts\[0\]\.extensions\[\d+\]\.number", problems), problems
        assert switch.config_path.read_text() == before  # nothing changed
        driver.save_screenshot(str(shots / "extensions-problems.png"))

        driver.get(f"{base}/console?lang=vi")
        assert "Tổng quan" in driver.find_element(By.TAG_NAME, "h1").text
        driver.save_screenshot(str(shots / "dashboard-vi.png"))
        driver.get(f"{base}/console/logout")

        sign_in(driver, base, globex)
        assert wait_js(driver, "location.pathname", "/console") == "/console"
        assert "acme" not in driver.find_element(By.ID, "registrations").text
        driver.get(f"{base}/console/extensions?account=acme")  # another account's: its own shown instead
        assert "globex" in driver.find_element(By.TAG_NAME, "h1").text and "306" not in driver.page_source
