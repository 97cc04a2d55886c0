"""The provisioning server's answers (httpx with HTTP digest against the ASGI app, a real config):
each vendor's phone, with its real User-Agent and its device credentials, fetches its own file,
whose server, port, transport, user, password and BLF keys follow the config; a wrong password
is challenged again and counted, another device's MAC is not served, a User-Agent naming
another MAC is refused, an unknown MAC is 404 and noted for the operator, and sources outside
``provisioning.allow`` or banned get 403."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from softswitch.config import Config, load_config
from softswitch.provisioning.server import Guarded, Provisioner, build

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
YEALINK, GRANDSTREAM, FANVIL, GLOBEX = "001565a1b2c3", "000b82d4e5f6", "0c383e070809", "001565ffeedd"
UA = {
    YEALINK: "Yealink SIP-T46S 66.86.0.15 00:15:65:a1:b2:c3",
    GRANDSTREAM: "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId 000b82d4e5f6",
    FANVIL: "Fanvil X4 2.10.2.6887 0c383e070809",
    GLOBEX: "Yealink SIP-T54W 96.86.0.70 00:15:65:ff:ee:dd",
}


def with_devices(tmp_path: Path, **provisioning: Any) -> Path:
    path = tmp_path / "switch.yaml"
    text = EXAMPLE.read_text().replace("\naccounts:\n", f"""
provisioning: {{address: 127.0.0.1, port: 8089, url: "http://192.0.2.10:8089"{"".join(f", {k}: {v}" for k, v in provisioning.items())}}}

accounts:
""", 1)
    text = text.replace("    domain: acme.example\n", """    domain: acme.example
    devices:
      - {mac: "00:15:65:A1:B2:C3", model: yealink, lines: ["101"], password: yealink-prov-pw, blf: ["102", "103"], label: Reception}
      - {mac: 000b82d4e5f6, model: grandstream, lines: ["102", "103"], password: grandstream-prov-pw, park_keys: 2}
      - {mac: 0c-38-3e-07-08-09, model: fanvil, lines: ["104"], password: fanvil-prov-pw, blf: ["101"], park_keys: 1}
""", 1)
    text = text.replace("    domain: globex.example\n", f"""    domain: globex.example
    devices:
      - {{mac: "{GLOBEX}", model: yealink, lines: ["101"], password: globex-prov-pw}}
""", 1)
    path.write_text(text)
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Provisioner, Config, list[str]]]:
    config = load_config(with_devices(tmp_path))
    failures: list[str] = []
    provisioner = Provisioner(lambda: config, Guarded(is_banned=lambda host: host == "192.0.2.66",
                                                      failed=lambda host: failures.append(host) is not None))
    yield provisioner, config, failures


def client(provisioner: Provisioner, host: str = "10.1.2.3") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build(provisioner), client=(host, 40000)),
                             base_url="http://192.0.2.10:8089")


async def fetch(provisioner: Provisioner, name: str, mac: str, password: str, host: str = "10.1.2.3",
                user_agent: str | None = None) -> httpx.Response:
    async with client(provisioner, host) as c:
        return await c.get(f"/{name}", auth=httpx.DigestAuth(mac, password), headers={"User-Agent": user_agent or UA[mac]})


def yealink_settings(text: str) -> dict[str, str]:
    assert text.startswith("#!version:1.0.0.1\n")
    return dict(re.findall(r"^([\w.]+) = (.*)$", text, re.M))


async def test_a_yealink_phone_fetches_its_boot_file_and_its_own_settings(served: Any) -> None:
    provisioner, config, failures = served
    boot = await fetch(provisioner, "y000000000000.boot", YEALINK, "yealink-prov-pw")
    assert boot.status_code == 200 and f'include:config "{YEALINK}.cfg"' in boot.text, boot.text
    cfg = await fetch(provisioner, f"{YEALINK}.cfg", YEALINK, "yealink-prov-pw")
    assert cfg.status_code == 200 and cfg.headers["cache-control"] == "no-store"
    s = yealink_settings(cfg.text)
    assert (s["account.1.user_name"], s["account.1.auth_name"], s["account.1.password"]) == ("101", "101", "acme-101-secret")
    assert s["account.1.sip_server.1.address"] == "acme.example"
    assert (s["account.1.outbound_proxy.1.address"], s["account.1.outbound_proxy.1.port"]) == ("127.0.0.1", "5060")
    assert s["account.1.sip_server.1.transport_type"] == "0"  # UDP, the switch's first listener
    assert "account.2.enable" not in s
    keys = {int(k.split(".")[1]): v for k, v in s.items() if k.startswith("linekey.") and k.endswith(".value")}
    types = {int(k.split(".")[1]): v for k, v in s.items() if k.startswith("linekey.") and k.endswith(".type")}
    assert keys == {1: "101", 2: "*801", 3: "*802", 4: "*803", 5: "102", 6: "103"}
    assert types == {1: "15", 2: "16", 3: "16", 4: "16", 5: "16", 6: "16"}  # its line, then BLF keys
    assert s["linekey.5.extension"] == "**" and s["features.pickup.direct_pickup_code"] == "**"
    assert s["static.auto_provision.server.url"] == "http://192.0.2.10:8089/"
    assert s["static.auto_provision.repeat.enable"] == "1" and s["local_time.time_zone"] == "+7"
    common = await fetch(provisioner, "y000000000066.cfg", YEALINK, "yealink-prov-pw")
    assert common.status_code == 200 and common.text.startswith("#!version:1.0.0.1")
    assert failures == [] and provisioner.counters["served"] == 3


async def test_a_grandstream_phone_fetches_its_xml(served: Any) -> None:
    provisioner, *_ = served
    answer = await fetch(provisioner, f"cfg{GRANDSTREAM}.xml", GRANDSTREAM, "grandstream-prov-pw")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(answer.text)
    assert root.tag == "gs_provision" and root.findtext("mac") == GRANDSTREAM
    items = {i.get("name"): i.text for i in root.iter("item")}
    for line, number in ((1, "102"), (2, "103")):
        assert items[f"account.{line}.sip.userid"] == number and items[f"account.{line}.sip.subscriber.userid"] == number
        assert items[f"account.{line}.sip.subscriber.password"] == f"acme-{number}-secret"
        assert items[f"account.{line}.sip.server.1.address"] == "acme.example"
        assert items[f"account.{line}.sip.outboundProxy.1.address"] == "127.0.0.1:5060"
        assert items[f"account.{line}.sip.transport"] == "UDP"
        assert items[f"account.{line}.sip.registerExpiration"] == "60"  # minutes
    assert [(items[f"pks.vpk.{k}.keyMode"], items[f"pks.vpk.{k}.value"]) for k in (3, 4)] == [("BLF", "*801"), ("BLF", "*802")]
    assert "pks.vpk.5.keyMode" not in items
    assert items["provisioning.config.serverPath"] == "192.0.2.10:8089" and items["sip.notify.challenge"] == "Yes"


async def test_a_fanvil_phone_fetches_its_cfg(served: Any) -> None:
    provisioner, *_ = served
    answer = await fetch(provisioner, f"{FANVIL}.cfg", FANVIL, "fanvil-prov-pw")
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.text)
    (line,) = root.iter("SIP_Line_List_Entry")
    values = {child.tag: child.text for child in line}
    assert (values["Register_User"], values["Register_Pswd"], values["Register_Addr"]) == ("104", "acme-104-secret", "acme.example")
    assert (values["Proxy_Addr"], values["Proxy_Port"], values["Transport"]) == ("127.0.0.1", "5060", "0")
    keys = [(k.findtext("Type"), k.findtext("Value")) for k in root.iter("Function_Key_Entry")]
    assert keys == [("1", "*801@1/bc"), ("1", "101@1/ba**101")]  # a park slot, then 101 with its pick-up code


async def test_a_wrong_password_another_mac_or_another_phones_user_agent_is_refused(served: Any) -> None:
    provisioner, _, failures = served
    wrong = await fetch(provisioner, f"{YEALINK}.cfg", YEALINK, "not-the-password")
    assert wrong.status_code == 401 and "Digest" in wrong.headers["www-authenticate"]
    assert failures == ["10.1.2.3"]  # counted towards a ban, as a SIP authentication failure
    # Acme's Yealink asks for globex's phone's file with its own credentials: not served.
    async with client(provisioner) as c:
        other = await c.get(f"/{GLOBEX}.cfg", auth=httpx.DigestAuth(YEALINK, "yealink-prov-pw"), headers={"User-Agent": UA[YEALINK]})
    assert other.status_code in (401, 404) and "globex-101-secret" not in other.text
    # Globex's phone, its own credentials, but naming acme's MAC in its User-Agent: refused.
    spoofed = await fetch(provisioner, f"{GLOBEX}.cfg", GLOBEX, "globex-prov-pw", user_agent=UA[YEALINK])
    assert spoofed.status_code == 403
    # ... and with its own User-Agent, globex's phone gets globex's 101.
    own = await fetch(provisioner, f"{GLOBEX}.cfg", GLOBEX, "globex-prov-pw")
    assert own.status_code == 200 and yealink_settings(own.text)["account.1.password"] == "globex-101-secret"


async def test_an_unknown_phone_is_404_and_noted_for_the_operator(served: Any, caplog: pytest.LogCaptureFixture) -> None:
    provisioner, *_ = served
    for _ in range(2):
        answer = await fetch(provisioner, "0015650a0b0c.cfg", YEALINK, "yealink-prov-pw",
                       user_agent="Yealink SIP-T31G 124.86.0.40 00:15:65:0a:0b:0c")
        assert answer.status_code == 404
    (asked,) = provisioner.listing()
    assert (asked["mac"], asked["address"], asked["times"]) == ("0015650a0b0c", "10.1.2.3", 2)
    assert "T31G" in str(asked["user_agent"])
    assert caplog.text.count("a phone asked for provisioning: MAC 0015650a0b0c") == 1
    assert (await fetch(provisioner, "../../etc/passwd", YEALINK, "yealink-prov-pw")).status_code == 404


async def test_sources_outside_the_allowed_networks_or_banned_get_403(tmp_path: Path) -> None:
    config = load_config(with_devices(tmp_path, allow='["10.1.0.0/16"]'))
    provisioner = Provisioner(lambda: config, Guarded(is_banned=lambda host: host == "10.1.9.9"))
    assert (await fetch(provisioner, f"{YEALINK}.cfg", YEALINK, "yealink-prov-pw", host="10.1.2.3")).status_code == 200
    assert (await fetch(provisioner, f"{YEALINK}.cfg", YEALINK, "yealink-prov-pw", host="10.2.0.1")).status_code == 403
    assert (await fetch(provisioner, f"{YEALINK}.cfg", YEALINK, "yealink-prov-pw", host="10.1.9.9")).status_code == 403
