"""The browser phone over TLS: a certificate from `softswitch tls self-signed`, a wss listener
and the web port on HTTPS (a secure origin, as browsers want for the microphone).  /phone over
https signs in over wss (a WSS registration); without the right password nothing registers
and no call is made (the INVITE's challenge is not met)."""

from __future__ import annotations

from pathlib import Path

from .browser import chromium, jssip_page, wait_js
from .harness import Switch, free_port

NO_CALL = """
window.state = "starting";
const ua = new JsSIP.UA({
  sockets: [new JsSIP.WebSocketInterface("wss://127.0.0.1:%(port)d")],
  uri: "sip:101@acme.example", password: "not-the-password", register: false,
});
ua.on("connected", () => {
  const session = ua.call("sip:102@acme.example", {mediaConstraints: {audio: true, video: false},
                                                  pcConfig: {iceServers: []}});
  session.on("failed", (e) => { window.state = "failed: " + e.cause; });
  session.on("confirmed", () => { window.state = "confirmed"; });
});
ua.start();
"""


def test_the_phone_page_over_https_signs_in_over_wss_and_a_wrong_password_calls_nobody(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from .test_browser_phone_page import sign_in

    port, wss, api = free_port(), free_port(), free_port()
    workdir = tmp_path / "sw"
    workdir.mkdir()
    switch = Switch(workdir, port=port)
    made = switch.cli("tls", "self-signed", "--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem"))
    assert made.returncode == 0, made.stdout + made.stderr
    tls = {"certificate": str(tmp_path / "cert.pem"), "private_key": str(tmp_path / "key.pem")}
    switch.overrides = {
        "server": {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": port},
                              {"transport": "wss", "address": "127.0.0.1", "port": wss}], "tls": tls},
        "api": {"address": "127.0.0.1", "port": api, "tls": tls},
    }
    switch.start()
    try:
        with chromium("--ignore-certificate-errors", "--use-fake-ui-for-media-stream",
                      "--use-fake-device-for-media-stream") as driver:
            driver.get(f"https://127.0.0.1:{api}/phone?domain=acme.example")
            sign_in(driver, "101", "acme-101-secret")
            assert wait_js(driver, "document.body.dataset.state", "ready") == "ready"
            (row,) = [r for r in switch.registrations("acme") if r["EXT"] == "101"]
            assert row["TRANSPORT"] == "WSS", row
            assert driver.find_element(By.ID, "me").text == "101@acme.example"

            driver.get(jssip_page(tmp_path / "no-call.html", NO_CALL % {"port": wss}))
            state = wait_js(driver, "window.state", "failed: Rejected", timeout=20)
            assert state in ("failed: Rejected", "failed: Authentication Error"), state
        assert "answered" not in switch.cli("calls", "--config", str(switch.config_path)).stdout
    finally:
        switch.stop()
