"""Named outbound number groups: the numbers an extension shows when it calls out, in one
rotation the group's extensions share; the config checks them."""

from __future__ import annotations

import pytest

from softswitch.b2bua.routing import HuntMemory
from softswitch.config import ConfigError, load_config_text

CONFIG = """
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
trunks: [{name: carrier, host: 192.0.2.50}]
accounts:
  - name: acme
    domain: acme.example
    trunk: carrier
    hotlines:
      - {number: "02873001234", trunk: carrier, destination: "101"}
      - {number: "02873001235", trunk: carrier, destination: "101"}
      - {number: "02873001236", trunk: carrier, destination: "101"}
    outbound_numbers: ["02873001236"]
    outbound_groups:
      sales: ["02873001234", "02873001235"]
    extensions:
      - {number: "101", password: secret-101, outbound_group: sales}
      - {number: "102", password: secret-102, outbound_group: sales}
      - {number: "103", password: secret-103}
      - {number: "104", password: secret-104, outbound_numbers: ["02873001235"]}
"""


def test_a_groups_extensions_share_one_rotation() -> None:
    config = load_config_text(CONFIG)
    acme = config.account("acme")
    assert acme is not None
    memory = HuntMemory()
    shown = [memory.next_outbound(acme, acme.extension(n)) for n in ("101", "102", "101", "103", "104")]  # type: ignore[arg-type]
    assert shown == ["02873001234", "02873001235", "02873001234", "02873001236", "02873001235"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("outbound_group: sales}", "outbound_group: support}", "outbound group 'support' is not defined"),
    ('sales: ["02873001234", "02873001235"]', 'sales: ["02873009999"]', "'02873009999' is not one of this account's hotlines"),
    ('sales: ["02873001234", "02873001235"]', "sales: []", "a group needs at least one number"),
    ('outbound_numbers: ["02873001235"]}', 'outbound_numbers: ["02873001235"], outbound_group: sales}', "not both"),
])
def test_groups_are_checked(old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config_text(CONFIG.replace(old, new, 1))
