"""A browser phone over SIP over WebSocket (RFC 7118): JsSIP (the vendored bundle) in a headless
Chromium registers as 101 on the switch's ws listener with digest credentials, shows up as a WS
registration, and its binding goes when the page's connection closes; a wrong password is
refused as on any other transport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .browser import chromium, jssip_page, wait_js
from .harness import Switch, free_port

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


def with_ws(port: int) -> dict[str, Any]:
    return {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": port},
                       {"transport": "ws", "address": "127.0.0.1", "port": port}]}


def test_a_browser_registers_over_websocket_and_its_binding_goes_with_its_connection(make_switch: Any,
                                                                                    tmp_path: Path) -> None:
    ws_port = free_port()
    switch: Switch = make_switch(server=with_ws(ws_port))
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


def test_a_browser_with_a_wrong_password_is_refused(make_switch: Any, tmp_path: Path) -> None:
    ws_port = free_port()
    switch: Switch = make_switch(server=with_ws(ws_port))
    page = jssip_page(tmp_path / "phone.html", REGISTER % {"port": ws_port, "user": "102", "password": "wrong"})
    with chromium() as driver:
        driver.get(page)
        assert wait_js(driver, "window.state", "failed: Rejected") == "failed: Rejected"  # JsSIP's word for a 403
    assert not [r for r in switch.registrations("acme") if r["EXT"] == "102"]
