"""A real browser for the tests: Debian's headless Chromium driven by selenium through Debian's
chromedriver (nothing downloaded at test time), and pages that load the switch's vendored JsSIP."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from softswitch.web import JSSIP

from .harness import Switch, end_processes, free_port, require_tool

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@contextmanager
def chromium(*extra_flags: str) -> Iterator[Any]:
    """A headless Chromium, quit at the end."""
    import pytest

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("!!! chromium and chromium-driver are not installed: run scripts/test (it installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--allow-file-access-from-files", *extra_flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def jssip_page(path: Path, script: str) -> str:
    """An HTML file that loads JsSIP, then runs ``script``; its file:// URL."""
    path.write_text(f'<!doctype html><meta charset="utf-8"><script src="{JSSIP.as_uri()}"></script>\n'
                    f"<script>\n{script}\n</script>\n")
    return path.as_uri()


# What a page's call (``window.session``, else the page's last RTCPeerConnection as
# ``keep_peer_connections`` keeps them) has received and sent so far: ``window.readStats()``
# fills ``window.stats`` from getStats() (received, level, energy, sent).
READ_STATS = """
window.stats = {};
window.readStats = async () => {
  const pc = window.session ? window.session.connection : (window.peers || []).at(-1);
  if (!pc) return;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      window.stats.received = s.packetsReceived; window.stats.level = s.audioLevel || 0;
      window.stats.energy = s.totalAudioEnergy || 0;
    }
    if (s.type === "outbound-rtp" && s.kind === "audio") { window.stats.sent = s.packetsSent; }
  });
};
"""


def keep_peer_connections(driver: Any) -> None:
    """Make every page this driver opens keep its RTCPeerConnections in ``window.peers`` and
    able to read their statistics (READ_STATS): a page's own script need not show its calls."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
window.peers = [];
const Original = window.RTCPeerConnection;
window.RTCPeerConnection = function (...args) { const pc = new Original(...args); window.peers.push(pc); return pc; };
window.RTCPeerConnection.prototype = Original.prototype;
Object.setPrototypeOf(window.RTCPeerConnection, Original);
""" + READ_STATS})


def stats_until(driver: Any, received: int, timeout: float = 20.0) -> dict[str, Any]:
    """The page's call statistics (READ_STATS) once ``received`` packets came in, or the last
    ones read when ``timeout`` ran out."""
    deadline = time.monotonic() + timeout
    while True:
        driver.execute_script("window.readStats();")
        stats: dict[str, Any] = driver.execute_script("return window.stats;")
        if stats.get("received", 0) >= received or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


def wait_js(driver: Any, expression: str, want: Any, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it gives ``want``; what it gave last."""
    deadline = time.monotonic() + timeout
    while True:
        got = driver.execute_script(f"return {expression};")
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def switch_with_ws(workdir: Path, **overrides: Any) -> tuple[Switch, int]:
    """A started switch with a ws listener beside its UDP one (the desk phones'); its ws port."""
    port, ws_port = free_port(), free_port()
    listen = [{"transport": "udp", "address": "127.0.0.1", "port": port},
              {"transport": "ws", "address": "127.0.0.1", "port": ws_port}]
    workdir.mkdir()
    return Switch(workdir, port=port, overrides={"server": {"listen": listen}, **overrides}).start(), ws_port


def desk_phone(switch: Switch, home: Path, tone: Path, ext: str = "102") -> subprocess.Popen[bytes]:
    """A baresip desk phone playing ``tone`` and answering by itself, registered as ``ext``
    (its decoded audio dumped in ``home``); the caller ends it."""
    from .test_transfer_baresip import baresip_home

    baresip = require_tool("baresip")
    baresip_home(home, ext, switch, tone)
    with open(home / "baresip.log", "w") as log:
        phone = subprocess.Popen([baresip, "-f", str(home), "-t", "60"], stdout=log, stderr=subprocess.STDOUT)
    try:
        switch.wait_for(lambda: [r for r in switch.registrations("acme") if r["EXT"] == ext], what=f"{ext} registered")
    except BaseException:
        end_processes([phone])
        raise
    return phone
