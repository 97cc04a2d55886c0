"""The operator's console in a headless Chromium: sign in with an API token (a wrong one is
refused), the dashboard shows a live call within 2 s of it starting (server-sent events swapped
in by htmx), an extension is granted through the form and its login information shown, an
invalid grant lists the config's problems and changes nothing, a new password, a new number and
a stop from the extension's row, a plans CSV with problems shown as a table with nothing
changed, the call history with the call's quality and its recording (seekable), the audit log
of every change, labels in Vietnamese, and an account's token sees only its account.
Screenshots of every page are kept in the run's artefacts (test-artefacts/)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .browser import chromium, wait_js
from .harness import Switch, admin, base_config, calls, end_processes, free_port, register
from .test_flood_limits import flood
from .test_provisioning_softphones import decode


def token(switch: Switch, name: str, *account: str) -> str:
    made = switch.cli("api", "token", name, *(("--account", account[0]) if account else ()), "--config",
                      str(switch.config_path))
    assert made.returncode == 0, made.stdout + made.stderr
    return re.findall(r"^Token\s+(ss_\S+)$", made.stdout, re.M)[0]


def submit(driver: Any, button: Any) -> None:
    """Click a button that sends a form, and wait for the page the answer is (the click itself
    does not wait for the navigation: a busy machine shows the old page for a while)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")

    def gone(_driver: Any) -> bool:
        try:
            old.is_enabled()
        except WebDriverException:  # stale, or (chromedriver) "does not belong to the document"
            return True
        return False

    button.click()
    WebDriverWait(driver, 30).until(gone)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState;") == "complete")


def sign_in(driver: Any, base: str, secret: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console/login")
    driver.find_element(By.ID, "token").send_keys(secret)
    submit(driver, driver.find_element(By.ID, "sign-in"))


def test_the_console_shows_live_calls_grants_extensions_and_keeps_accounts_apart(make_switch: Any, tmp_path: Path,
                                                                               artefacts: Path) -> None:
    from selenium.webdriver.common.by import By

    api = free_port()
    accounts = base_config(0, Path("unused"))["accounts"]
    accounts[0]["recording"] = {"mode": "always"}  # the history page plays recordings
    switch: Switch = make_switch(api={"address": "127.0.0.1", "port": api}, accounts=accounts,
                                 security={"max_unanswered_challenges": 10},
                                 plans=[{"name": "office", "permission": "mobile", "features": ["outside", "park"]}])
    base = f"http://127.0.0.1:{api}"
    ops, globex = token(switch, "ops"), token(switch, "globex-admin", "globex")
    made = switch.cli("people", "add", "e100", "--account", "acme", "--name", "Lan Nguyen", "--config",
                      str(switch.config_path))
    assert made.returncode == 0, made.stdout + made.stderr
    shots = artefacts
    procs: list[subprocess.Popen[Any]] = []
    with chromium("--window-size=1280,1800") as driver:  # tall enough for each page's screenshot
        sign_in(driver, base, "ss_not-a-token")
        assert "not valid" in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
        driver.save_screenshot(str(shots / "login.png"))

        sign_in(driver, base, ops)
        assert wait_js(driver, "location.pathname", "/console") == "/console"
        assert "acme" in driver.find_element(By.ID, "registrations").text
        assert "banned" in driver.find_element(By.ID, "counts").text  # the operator sees the switch's counters
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
        out, _ = caller.communicate(timeout=40)  # it hangs up after 6 s: the call ends, recorded
        assert caller.returncode == 0, out[-2000:]
        end_processes(procs)

        # Grant through the form: the login information; then an invalid grant: problems, nothing changed.
        driver.get(f"{base}/console/extensions?account=acme")
        driver.find_element(By.ID, "grant-number").send_keys("306")
        driver.find_element(By.ID, "grant-alias").send_keys("lan")
        submit(driver, driver.find_element(By.ID, "grant-submit"))
        info = driver.find_element(By.ID, "login-info").text
        assert "Username 306" in info and "Domain acme.example" in info, info
        assert "306" in driver.find_element(By.ID, "extensions").text
        driver.save_screenshot(str(shots / "extensions-granted.png"))
        before = switch.config_path.read_text()
        driver.find_element(By.ID, "grant-number").send_keys("0307")
        submit(driver, driver.find_element(By.ID, "grant-submit"))
        problems = driver.find_element(By.ID, "problems").text
        assert re.search(r"switch\.yaml:\d+: accounts\[0\]\.extensions\[\d+\]\.number", problems), problems
        assert switch.config_path.read_text() == before  # nothing changed
        driver.save_screenshot(str(shots / "extensions-problems.png"))

        # 306's row: a new password (shown once), renumbered to 356, then stopped.
        submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-extension='306'] button.password"))
        info = driver.find_element(By.ID, "login-info").text
        assert "Username 306" in info and "(unchanged)" not in info, info
        driver.find_element(By.CSS_SELECTOR, "tr[data-extension='306'] input[name=new_number]").send_keys("356")
        submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-extension='306'] button.change"))
        assert "change-number" in driver.find_element(By.ID, "done").text
        assert "Username 356" in driver.find_element(By.ID, "login-info").text
        submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-extension='356'] button.stop"))
        assert "stop" in driver.find_element(By.ID, "done").text
        assert not driver.find_elements(By.CSS_SELECTOR, "tr[data-extension='356']")
        # 101's sign-in link for the browser phone, to send the person: it opens once.
        submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-extension='101'] button.web-link"))
        link = driver.find_element(By.ID, "web-link").get_attribute("href")
        assert link.startswith(f"{base}/phone?domain=acme.example#link="), link
        opened = wait_js(driver, f"window.opened || fetch('/phone/link', {{method: 'POST', headers: {{'Content-Type': "
                                 f"'application/json'}}, body: JSON.stringify({{token: '{link.split('#link=')[1]}'}})}})"
                                 ".then(r => r.json()).then(j => window.opened = j.number) && window.opened", "101")
        assert opened == "101"
        # 101's Grandstream Wave QR code, on the page: a scanner reads the account from it.
        driver.find_element(By.CSS_SELECTOR, "tr[data-extension='101'] select[name=app]").send_keys("gswave")
        submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-extension='101'] button.qr"))
        driver.find_element(By.ID, "qr").screenshot(str(shots / "extension-qr.png"))
        wave = decode(shots / "extension-qr.png")
        assert "<UserID>101</UserID>" in wave and "<AuthPass>acme-101-secret</AuthPass>" in wave, wave

        # A source guessing at registrations is banned: the dashboard lists it, and lifts it.
        result, _ = flood(switch, "register_flood.xml", "127.0.0.6", 40, 200, "register")
        assert isinstance(result, subprocess.CompletedProcess)
        switch.wait_for(lambda: "banning 127.0.0.6" in switch.log(), what="the flooding source banned")
        driver.get(f"{base}/console")
        ban = driver.find_element(By.CSS_SELECTOR, "#bans tr[data-source='127.0.0.6']").text
        assert "unanswered challenges" in ban, ban
        driver.save_screenshot(str(shots / "dashboard-bans.png"))
        submit(driver, driver.find_element(By.CSS_SELECTOR, "#bans tr[data-source='127.0.0.6'] button.lift"))
        assert "127.0.0.6" in driver.find_element(By.ID, "done").text
        assert not driver.find_elements(By.CSS_SELECTOR, "#bans tr[data-source='127.0.0.6']")
        assert "ban on 127.0.0.6 (unanswered challenges) lifted by ops (API)" in switch.log()

        # People and plans: a CSV with problems is previewed as a table of them, and nothing changes.
        bad = tmp_path / "plans.csv"
        bad.write_text("ID,Name,Package (Required)\ne999,Nobody,Gold\ne100,Lan Nguyen,NoSuchPlan\n")
        driver.get(f"{base}/console/people?account=acme")
        assert "e100" in driver.find_element(By.ID, "people").text
        before = switch.config_path.read_text()
        driver.find_element(By.ID, "csv-file").send_keys(str(bad))
        submit(driver, driver.find_element(By.ID, "apply-button"))
        errors = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#csv-errors tr")]
        assert len(errors) == 2 and errors[0].startswith("row 2") and errors[1].startswith("row 3"), errors
        assert switch.config_path.read_text() == before  # nothing changed
        driver.save_screenshot(str(shots / "people-csv-errors.png"))
        # A person added through the form, given a plan and had it taken away; the same id again
        # is refused with the config's problem, and nothing changes.
        driver.find_element(By.ID, "person-id").send_keys("e200")
        driver.find_element(By.ID, "person-name").send_keys("Minh Tran")
        submit(driver, driver.find_element(By.ID, "add-person-submit"))
        assert "person-add person e200" in driver.find_element(By.ID, "applied").text
        submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-person='e200'] button.give-plan"))
        assert "plan-assign" in driver.find_element(By.ID, "applied").text
        assert driver.find_element(By.CSS_SELECTOR, "tr[data-person='e200'] button.remove-plan").get_attribute(
            "data-plan") == "office"
        assert not driver.find_elements(By.CSS_SELECTOR, "tr[data-person='e200'] button.give-plan")  # none left to give
        driver.save_screenshot(str(shots / "people-plan-given.png"))
        submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-person='e200'] button.remove-plan"))
        assert "plan-remove" in driver.find_element(By.ID, "applied").text
        assert not driver.find_elements(By.CSS_SELECTOR, "tr[data-person='e200'] button.remove-plan")
        before = switch.config_path.read_text()
        driver.find_element(By.ID, "person-id").send_keys("e200")
        driver.find_element(By.ID, "person-name").send_keys("Someone Else")
        submit(driver, driver.find_element(By.ID, "add-person-submit"))
        assert "e200" in driver.find_element(By.ID, "problems").text
        assert switch.config_path.read_text() == before

        # The history: the call with its legs' quality and its recording; the audit log: every change.
        switch.wait_for(lambda: [r for r in calls(switch) if r["recording_path"]], timeout=20, what="the recorded call")
        driver.get(f"{base}/console/calls?account=acme")
        (call,) = driver.find_elements(By.CSS_SELECTOR, "#calls tbody tr[data-call]")
        assert "101" in call.text and "102" in call.text and "answered" in call.text, call.text
        source = call.find_element(By.TAG_NAME, "audio").get_attribute("src")
        assert wait_js(driver, f"fetch('{source}', {{headers: {{Range: 'bytes=0-43'}}}}).then(r => r.status)"
                               ".then(s => window.fetched = s) && window.fetched", 206) == 206  # seekable
        driver.save_screenshot(str(shots / "calls.png"))
        driver.get(f"{base}/console/audit?account=acme")
        actions = [r.find_elements(By.TAG_NAME, "td")[3].text for r in driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
        assert actions[:9] == ["plan-remove", "plan-assign", "person-add", "qr-code", "web-link", "stop",
                               "change-number", "password", "grant"], actions  # newest first
        driver.save_screenshot(str(shots / "audit.png"))

        # On a phone-sized screen every page fits its width (wide tables scroll by themselves).
        driver.set_window_size(412, 915)
        for name in ("console", "console/extensions", "console/people", "console/calls", "console/audit"):
            driver.get(f"{base}/{name}?account=acme")
            overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
            assert overflow <= 0, (name, overflow)
            driver.save_screenshot(str(shots / f"phone-sized-{name.replace('/', '-')}.png"))
        driver.set_window_size(1280, 1800)

        driver.get(f"{base}/console?lang=vi")
        assert "Tổng quan" in driver.find_element(By.TAG_NAME, "h1").text
        driver.save_screenshot(str(shots / "dashboard-vi.png"))
        driver.get(f"{base}/console/logout")

        sign_in(driver, base, globex)
        assert wait_js(driver, "location.pathname", "/console") == "/console"
        assert "acme" not in driver.find_element(By.ID, "registrations").text
        assert not driver.find_elements(By.ID, "bans")  # the switch's bans are the operator's
        driver.get(f"{base}/console/extensions?account=acme")  # another account's: its own shown instead
        assert "globex" in driver.find_element(By.TAG_NAME, "h1").text and "306" not in driver.page_source


def test_the_console_provisions_a_phone_that_then_fetches_its_file(make_switch: Any, artefacts: Path) -> None:
    """Phones page: a Yealink added through the form shows what to type into it, and with exactly
    that the phone fetches its file; an unknown phone that asked is listed; a line that is not the
    account's is refused with the config's problem; the phone removed."""
    import httpx
    from selenium.webdriver.common.by import By

    api, prov = free_port(), free_port()
    switch: Switch = make_switch(api={"address": "127.0.0.1", "port": api},
                                 provisioning={"address": "127.0.0.1", "port": prov, "url": f"http://127.0.0.1:{prov}"})
    base = f"http://127.0.0.1:{api}"
    ops = token(switch, "ops")
    agent = "Yealink SIP-T46S 66.86.0.15 00:15:65:a1:b2:c3"
    with httpx.Client(base_url=f"http://127.0.0.1:{prov}", timeout=10) as http:
        assert http.get("/001565a1b2c3.cfg", headers={"User-Agent": agent}).status_code == 404  # not claimed yet
        with chromium("--window-size=1280,1800") as driver:
            sign_in(driver, base, ops)
            driver.get(f"{base}/console/phones?account=acme")
            assert "001565a1b2c3" in driver.find_element(By.ID, "asked").text  # the phone that asked
            driver.find_element(By.ID, "phone-mac").send_keys("00:15:65:A1:B2:C3")
            driver.find_element(By.ID, "phone-lines").send_keys("101")
            driver.find_element(By.ID, "phone-blf").send_keys("102, 103")
            driver.find_element(By.ID, "phone-label").send_keys("Reception")
            submit(driver, driver.find_element(By.ID, "add-phone-submit"))
            cells = {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
                     for r in driver.find_elements(By.CSS_SELECTOR, "#provisioning-info tr")}
            assert cells["Provisioning URL"] == f"http://127.0.0.1:{prov}/" and cells["User name"] == "001565a1b2c3", cells
            assert "101" in driver.find_element(By.CSS_SELECTOR, "tr[data-mac='001565a1b2c3']").text
            driver.save_screenshot(str(artefacts / "phones-added.png"))

            got = http.get("/001565a1b2c3.cfg", headers={"User-Agent": agent},
                           auth=httpx.DigestAuth(cells["User name"], cells["Password"]))
            assert got.status_code == 200 and "account.1.password = acme-101-secret" in got.text, got.text[:300]

            before = switch.config_path.read_text()
            driver.find_element(By.ID, "phone-mac").send_keys("001565aabbcc")
            driver.find_element(By.ID, "phone-lines").send_keys("199")
            submit(driver, driver.find_element(By.ID, "add-phone-submit"))
            assert "extension '199' is not in this account" in driver.find_element(By.ID, "problems").text
            assert switch.config_path.read_text() == before
            submit(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-mac='001565a1b2c3'] button.remove"))
            assert "device-remove" in driver.find_element(By.ID, "done").text
            assert not driver.find_elements(By.CSS_SELECTOR, "#phones tr[data-mac='001565a1b2c3']")
            driver.save_screenshot(str(artefacts / "phones.png"))
