"""What a provisioned phone is told: an address it can reach (never the wildcard the switch
listens on), the first listener phones speak, a clock offset from the account's zone, keys
after its lines; and the files' names and the User-Agent's MAC as each vendor writes them."""

from __future__ import annotations

import pytest

from softswitch.config import load_config_text
from softswitch.provisioning.files import Wanted, user_agent_mac, wanted
from softswitch.provisioning.profile import profile

CONFIG = """\
server:
  listen:
    - {transport: ws, address: 0.0.0.0, port: 8080}
    - {transport: tcp, address: 0.0.0.0, port: 5070}
provisioning: {port: 8089}
accounts:
  - name: acme
    domain: acme.example
    timezone: Asia/Kolkata
    park: {first_slot: 701, last_slot: 702}
    extensions:
      - {number: "101", password: secret-101, display_name: Lan}
      - {number: "102", password: secret-102}
    devices:
      - {mac: 001565a1b2c3, model: fanvil, lines: ["101"], password: prov-secret, blf: ["102"], park_keys: 5}
"""


def test_a_phone_is_told_an_address_it_can_reach_and_the_first_listener_it_speaks() -> None:
    config = load_config_text(CONFIG, "switch.yaml")
    account = config.accounts[0]
    p = profile(config, account, account.devices[0], 1_800_000_000.0)
    assert p.proxy != "0.0.0.0" and p.proxy  # the address this machine is reached at, never the wildcard
    assert p.provisioning_url == f"http://{p.proxy}:8089"
    assert (p.port, p.transport, p.domain) == (5070, "tcp", "acme.example")  # ws is the browsers'
    assert p.utc_offset_minutes == 330  # India: +5:30
    assert [(k.index, k.value, k.park) for k in p.keys] == [(2, "*701", True), (3, "*702", True), (4, "102", False)]
    assert [(line.index, line.number, line.display_name) for line in p.lines] == [(1, "101", "Lan")]


def test_no_listener_for_desk_phones_is_said_plainly() -> None:
    config = load_config_text(CONFIG.replace("    - {transport: tcp, address: 0.0.0.0, port: 5070}\n", ""), "switch.yaml")
    with pytest.raises(ValueError, match="needs udp, tcp or tls"):
        profile(config, config.accounts[0], config.accounts[0].devices[0], 0.0)


@pytest.mark.parametrize(("name", "want"), [
    ("001565A1B2C3.cfg", Wanted("001565a1b2c3", "cfg")),
    ("001565a1b2c3.boot", Wanted("001565a1b2c3", "boot")),
    ("y000000000000.boot", Wanted(None, "boot")),
    ("y000000000066.cfg", Wanted(None, "common")),
    ("cfg000b82d4e5f6.xml", Wanted("000b82d4e5f6", "xml")),
    ("000000000000.cfg", Wanted(None, "cfg")),
    ("cfg000b82d4e5f6", None), ("001565a1b2c3-local.cfg", None), ("../../etc/passwd", None), ("", None),
])
def test_file_names(name: str, want: Wanted | None) -> None:
    assert wanted(name) == want


@pytest.mark.parametrize(("agent", "mac"), [
    ("Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "0015654aa937"),
    ("Yealink SIP-T56A  58.80.0.25 001565f429a4", "001565f429a4"),
    ("Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872", "000b828aa872"),
    ("Fanvil X6U Pro 0.0.10 0c383e2cd782", "0c383e2cd782"),
    ("Grandstream GRP2612W 1.0.5.67", None), ("Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0", None), ("", None),
])
def test_the_mac_a_user_agent_ends_with(agent: str, mac: str | None) -> None:
    assert user_agent_mac(agent) == mac

