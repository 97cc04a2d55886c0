"""Phones set themselves up (issue 17): the switch's provisioning server over real HTTP, with
each vendor's User-Agent and its device's digest credentials, gives a Yealink, a Grandstream and
a Fanvil phone their files; SIPp then registers with exactly the credentials and server read
back from each file.  A wrong password is challenged, another account's phone is not served,
and an unknown phone is 404 and listed for the operator."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

from .harness import Switch, admin, base_config, free_port

DEVICES = {  # mac -> (model, lines, provisioning password, User-Agent)
    "001565a1b2c3": ("yealink", ["101"], "yealink-prov-pw", "Yealink SIP-T46S 66.86.0.15 00:15:65:a1:b2:c3"),
    "000b82d4e5f6": ("grandstream", ["102"], "grandstream-prov-pw",
                     "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId 000b82d4e5f6"),
    "0c383e070809": ("fanvil", ["103"], "fanvil-prov-pw", "Fanvil X4 2.10.2.6887 0c383e070809"),
}
FILES = {"yealink": "{mac}.cfg", "grandstream": "cfg{mac}.xml", "fanvil": "{mac}.cfg"}


def read_back(model: str, text: str) -> dict[str, str]:
    """What a phone would read from its file: domain, proxy, port, transport, user, password."""
    if model == "yealink":
        s = dict(re.findall(r"^([\w.]+) = (.*)$", text, re.M))
        return {"domain": s["account.1.sip_server.1.address"], "proxy": s["account.1.outbound_proxy.1.address"],
                "port": s["account.1.outbound_proxy.1.port"], "transport": s["account.1.sip_server.1.transport_type"],
                "user": s["account.1.auth_name"], "password": s["account.1.password"]}
    root = ET.fromstring(text)
    if model == "grandstream":
        items = {i.get("name"): i.text or "" for i in root.iter("item")}
        proxy, port = items["account.1.sip.outboundProxy.1.address"].rsplit(":", 1)
        return {"domain": items["account.1.sip.server.1.address"], "proxy": proxy, "port": port,
                "transport": items["account.1.sip.transport"], "user": items["account.1.sip.subscriber.userid"],
                "password": items["account.1.sip.subscriber.password"]}
    line = next(root.iter("SIP_Line_List_Entry"))
    return {"domain": line.findtext("Register_Addr") or "", "proxy": line.findtext("Proxy_Addr") or "",
            "port": line.findtext("Proxy_Port") or "", "transport": line.findtext("Transport") or "",
            "user": line.findtext("Register_User") or "", "password": line.findtext("Register_Pswd") or ""}


def udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def test_each_vendors_phone_fetches_its_file_and_registers_with_what_it_says(make_switch: Any) -> None:
    accounts = base_config(0, Path("unused"))["accounts"]
    accounts[0]["devices"] = [{"mac": mac, "model": model, "lines": lines, "password": password, "blf": ["104"]}
                              for mac, (model, lines, password, _) in DEVICES.items()]
    accounts[1]["devices"] = [{"mac": "001565ffeedd", "model": "yealink", "lines": ["101"], "password": "globex-prov-pw"}]
    prov = free_port()
    switch: Switch = make_switch(provisioning={"address": "127.0.0.1", "port": prov}, accounts=accounts)
    base = f"http://127.0.0.1:{prov}"
    with httpx.Client(base_url=base, timeout=10) as http:
        for mac, (model, lines, password, agent) in DEVICES.items():
            name = FILES[model].format(mac=mac)
            refused = http.get(f"/{name}", auth=httpx.DigestAuth(mac, "wrong-password"), headers={"User-Agent": agent})
            assert refused.status_code == 401, (model, refused.status_code)
            got = http.get(f"/{name}", auth=httpx.DigestAuth(mac, password), headers={"User-Agent": agent})
            assert got.status_code == 200, (model, got.status_code, got.text[:300])
            said = read_back(model, got.text)
            assert (said["domain"], said["proxy"], said["port"]) == ("acme.example", "127.0.0.1", str(switch.port)), said
            assert said["transport"] in ("0", "UDP") and said["user"] == lines[0], said
            assert said["password"] == f"acme-{lines[0]}-secret", said
            # SIPp registers with exactly what the file says.
            registered = switch.sipp("register_auth.xml", users=[(said["user"], said["password"])], domain=said["domain"])
            assert registered.returncode == 0, (model, registered.stdout[-1500:])
            assert [r for r in switch.registrations("acme") if r["EXT"] == said["user"]], model
        # Acme's Yealink, with its own credentials, asking for globex's phone's file: not served.
        other = http.get("/001565ffeedd.cfg", auth=httpx.DigestAuth("001565a1b2c3", "yealink-prov-pw"),
                         headers={"User-Agent": DEVICES["001565a1b2c3"][3]})
        assert other.status_code in (401, 404) and "globex-101-secret" not in other.text
        unknown = http.get("/001565000001.cfg", headers={"User-Agent": "Yealink SIP-T31G 124.86.0.40 00:15:65:00:00:01"})
        assert unknown.status_code == 404
    (asked,) = admin(switch, "phones-asked")
    assert asked["mac"] == "001565000001" and "T31G" in asked["user_agent"], asked
    shown = switch.cli("phones", "asked", "--config", str(switch.config_path))
    assert shown.returncode == 0 and "001565000001" in shown.stdout and "1 unclaimed phone " in shown.stdout, shown
    assert "a phone asked for provisioning: MAC 001565000001" in switch.log()


def test_a_new_password_sends_the_phone_a_check_sync_and_its_next_file_has_it(make_switch: Any) -> None:
    """The operator gives 101 a new password: the switch reloads, sees that the Yealink's file
    changed, and sends its registered phone (SIPp with a Yealink User-Agent) a check-sync
    NOTIFY; the phone's next fetch has the new password."""
    accounts = base_config(0, Path("unused"))["accounts"]
    mac, (model, lines, password, agent) = next(iter(DEVICES.items()))
    accounts[0]["devices"] = [{"mac": mac, "model": model, "lines": lines, "password": password}]
    prov = free_port()
    switch: Switch = make_switch(provisioning={"address": "127.0.0.1", "port": prov}, accounts=accounts)
    desk = free_port()
    registered = switch.sipp("register_auth.xml", "-key", "user_agent", "Yealink SIP-T46S 66.86.0.15",
                             users=[("101", "acme-101-secret")], domain="acme.example", local_port=desk)
    assert registered.returncode == 0, registered.stdout[-1500:]
    phone = switch.sipp("phone_check_sync.xml", domain="acme.example", local_port=desk, background=True, timeout=40)
    assert isinstance(phone, subprocess.Popen)
    switch.wait_for(lambda: udp_port_taken(desk), what="the phone listening again")  # else the NOTIFY finds nobody
    changed = switch.cli("extensions", "password", "101", "--account", "acme", "--config", str(switch.config_path))
    assert changed.returncode == 0, changed.stdout + changed.stderr
    new = re.search(r"^Password\s+(\S+)$", changed.stdout, re.M)
    assert new is not None and new[1] != "acme-101-secret", changed.stdout
    out, _ = phone.communicate(timeout=60)
    assert phone.returncode == 0, out[-2000:]  # the check-sync NOTIFY came, and was answered
    assert "1 registered phones asked to fetch them" in switch.log()
    with httpx.Client(base_url=f"http://127.0.0.1:{prov}", timeout=10) as http:
        got = http.get(f"/{mac}.cfg", auth=httpx.DigestAuth(mac, password), headers={"User-Agent": agent})
    assert got.status_code == 200 and read_back(model, got.text)["password"] == new[1]


def test_over_https_a_phone_looking_for_its_server_is_told_where_it_is_and_fetches_there(tmp_path: Path) -> None:
    """The provisioning server with a certificate (softswitch tls self-signed) serves HTTPS; SIP
    plug-and-play, turned on, answers a Yealink's ua-profile SUBSCRIBE with 200 and a NOTIFY
    whose body is that https URL (application/url), where the phone then fetches its file."""
    prov = free_port()
    workdir = tmp_path / "sw"
    workdir.mkdir()
    switch = Switch(workdir)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = switch.cli("tls", "self-signed", "--cert", str(cert), "--key", str(key))
    assert made.returncode == 0, made.stdout + made.stderr
    accounts = base_config(0, Path("unused"))["accounts"]
    mac, (model, lines, password, agent) = next(iter(DEVICES.items()))
    accounts[0]["devices"] = [{"mac": mac, "model": model, "lines": lines, "password": password}]
    switch.overrides = {"accounts": accounts, "provisioning": {
        "address": "127.0.0.1", "port": prov, "plug_and_play": True, "allow": ["127.0.0.0/8"],
        "url": f"https://127.0.0.1:{prov}",
        "tls": {"certificate": str(cert), "private_key": str(key)}}}
    switch.start()
    try:
        told = switch.sipp("pnp_subscribe.xml", timeout=20)
        assert told.returncode == 0, told.stdout[-2000:]
        url = f"https://127.0.0.1:{prov}/"
        assert f"plug-and-play: 127.0.0.1 (Yealink SIP-T46S 66.86.0.15) told to fetch its files from {url}" in switch.log()
        with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(cert)), timeout=10) as https:
            got = https.get(f"{mac}.cfg", auth=httpx.DigestAuth(mac, password), headers={"User-Agent": agent})
        assert got.status_code == 200 and f"static.auto_provision.server.url = {url}" in got.text, got.text[-500:]
        assert read_back(model, got.text)["password"] == "acme-101-secret"
    finally:
        switch.stop()
