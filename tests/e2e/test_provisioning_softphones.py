"""Softphones set up by QR code (issue 17): ``softswitch extensions qr`` writes a PNG that
zbarimg (Debian zbar-tools) decodes to the app's account data; Linphone's is a one-time URL the
provisioning server serves, and linphonec (Debian linphone-cli), given only that URL, fetches the
account and registers as the extension; the URL does not open a second time."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

from .harness import Switch, end_processes, free_port, require_tool


def decode(png: Path) -> str:
    zbarimg = require_tool("zbarimg")
    done = subprocess.run([zbarimg, "--quiet", "--raw", "-Sbinary", str(png)], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().rstrip("\n")


def qr(switch: Switch, tmp_path: Path, app: str, ext: str = "101") -> tuple[str, str]:
    png = tmp_path / f"{app}.png"
    made = switch.cli("extensions", "qr", ext, "--account", "acme", "--app", app, "--png", str(png), "--quiet",
                      "--config", str(switch.config_path))
    assert made.returncode == 0, made.stdout + made.stderr
    return decode(png), made.stdout


def test_qr_codes_hold_each_apps_account_and_linphone_registers_from_its_url(make_switch: Any, tmp_path: Path) -> None:
    linphonec = require_tool("linphonec")
    prov = free_port()
    switch: Switch = make_switch(provisioning={"address": "127.0.0.1", "port": prov,
                                               "url": f"http://127.0.0.1:{prov}"})

    wave, said = qr(switch, tmp_path, "gswave")
    account = ET.fromstring(wave).find("Account")
    assert account is not None, wave
    assert (account.findtext("RegisterServer"), account.findtext("OutboundServer")) == ("acme.example", f"127.0.0.1:{switch.port}")
    assert (account.findtext("UserID"), account.findtext("AuthID"), account.findtext("AuthPass")) == \
        ("101", "101", "acme-101-secret")
    assert "holds the extension's password" in said

    zoiper, _ = qr(switch, tmp_path, "zoiper")
    assert "Username: 101\nPassword: acme-101-secret\n" in zoiper and f"127.0.0.1:{switch.port}" in zoiper

    url, said = qr(switch, tmp_path, "linphone")
    assert url.startswith(f"http://127.0.0.1:{prov}/linphone/") and "once" in said, (url, said)
    home = tmp_path / "linphone"
    (home / ".local" / "share" / "linphone").mkdir(parents=True)  # its database: without it the core never starts
    rc = home / "linphonerc"
    rc.write_text(f"[misc]\nconfig-uri={url}\n\n[sip]\nsip_port={free_port()}\nbind_address=127.0.0.1\n"
                  "[rtp]\naudio_rtp_port=" + f"{free_port()}\n[sound]\nplayback_dev_id=\ncapture_dev_id=\n")
    phone = subprocess.Popen([linphonec, "-c", str(rc), "-d", "3", "-l", str(home / "linphone.log")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=home,
                             env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    try:
        row = switch.wait_for(lambda: [r for r in switch.registrations("acme") if r["EXT"] == "101"], timeout=30,
                              what="Linphone registered as 101 with what the URL gave it")
    except AssertionError as exc:
        log = home / "linphone.log"
        raise AssertionError(log.read_text()[-3000:] if log.exists() else "no log") from exc
    finally:
        if phone.poll() is None:
            assert phone.stdin is not None
            try:
                phone.stdin.write(b"quit\n")
                phone.stdin.flush()
            except BrokenPipeError:
                pass
        end_processes([phone], timeout=10)
    assert "linphone" in row[0]["USER-AGENT"].lower(), row
    with httpx.Client(timeout=10) as http:
        again = http.get(url)
    assert again.status_code == 404  # used once already
