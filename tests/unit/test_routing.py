"""Routing policy as a pure module: who rings, in what stages, with the directory, the hunt
memory and ``now`` given by hand (no event loop, no switch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from softswitch.b2bua.routing import HuntMemory, Refusal, Ring, Router
from softswitch.config import load_config_text
from softswitch.registrar.core import Binding
from softswitch.sip.transaction import Target

CONFIG = """
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
trunks:
  - {name: carrier, host: sip.carrier.example, port: 5070, inbound_addresses: [192.0.2.50]}
accounts:
  - name: acme
    domain: acme.example
    trunk: carrier
    outbound_numbers: ["02873001234", "02873001235"]
    extensions:
      - {number: "101", password: secret-101, call_permission: mobile}
      - {number: "102", password: secret-102, alias: sale01}
      - {number: "103", password: secret-103}
      - {number: "104", password: secret-104, dnd: true}
      - {number: "105", password: secret-105,
         routing: {type: designated, primary: "0909000001", backup: "0909000002", primary_timeout: 12}}
    groups:
      - {number: "600", members: ["102", "103", "104"], strategy: rrmemory, member_ring_time: 10, overflow: "105"}
      - {number: "601", members: ["102", "103"], strategy: leastrecent, member_ring_time: 10}
    external_groups:
      - {name: mobiles, members: ["0909000001", "0909000002"], confirm: true, overflow: "102"}
    hotlines:
      - number: "02873001234"
        trunk: carrier
        destination: "600"
        scenario:
          - {name: nights, hours: ["18:00-08:00"], destination: "external:mobiles"}
      - {number: "02873001235", trunk: carrier, destination: "102"}
  - name: globex
    domain: globex.example
    extensions:
      - {number: "101", password: secret-g101}
"""

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC: 15:00 in Ho Chi Minh City


class Directory:
    """Registered phones by (account, extension), as the registrar's table answers."""

    def __init__(self, phones: dict[tuple[str, str], int]) -> None:
        self.phones = phones

    def lookup(self, account: str, extension: str, now: float) -> Sequence[Binding]:
        count = self.phones.get((account, extension), 0)
        return [Binding(account, extension, f"uri:{i}", f"<sip:{extension}@10.0.0.{i}>", f"sip:{extension}@10.0.0.{i}",
                        now + 600, now - i, f"cid{i}", 1, Target("UDP", f"10.0.0.{i}", 5060), user_agent=f"phone{i}")
                for i in range(1, count + 1)]


def router(phones: dict[tuple[str, str], int] | None = None, busy: set[str] | None = None) -> tuple[Router, HuntMemory]:
    config = load_config_text(CONFIG)
    memory = HuntMemory()
    every = {("acme", n): 1 for n in ("101", "102", "103", "104", "105")}
    directory = Directory(phones if phones is not None else every)

    def no_shuffle(items: list[Any]) -> None:
        items.reverse()

    return Router(config, directory.lookup, memory, busy=lambda account: busy or set(),
                  address={"sip.carrier.example": "192.0.2.50"}.get, shuffle=no_shuffle), memory


def test_an_extension_rings_its_registered_devices_at_once_by_number_or_alias() -> None:
    r, _ = router({("acme", "102"): 2})
    account = r.config.account("acme")
    assert account is not None
    caller = account.extension("101")
    assert caller is not None
    for dialled in ("102", "sale01"):
        ring = r.route(account, caller, dialled, NOW)
        assert isinstance(ring, Ring) and ring.direction == "internal" and ring.callee == "102"
        (stage,) = ring.stages
        assert [d.uri for d in stage.devices] == ["sip:102@10.0.0.1", "sip:102@10.0.0.2"]
        assert stage.timeout == 30 and stage.extension == "102" and stage.callee_uri == "sip:102@acme.example"


def test_refusals_say_why_and_another_accounts_domain_is_never_reached() -> None:
    r, _ = router()
    account, globex = r.config.account("acme"), r.config.account("globex")
    assert account is not None and globex is not None
    staff = account.extension("103")  # internal only
    assert staff is not None
    mobile = r.route(account, staff, "0909789846", NOW)
    assert mobile == Refusal(403, "Forbidden (mobile calls not permitted)", mobile.cause, warn=True)  # type: ignore[union-attr]
    assert isinstance(r.route(account, staff, "104", NOW), Refusal)  # do not disturb: 486
    assert r.route(account, staff, "104", NOW).status == 486  # type: ignore[union-attr]
    other = r.route(account, staff, "101", NOW, addressed_to=globex)
    assert other == Refusal(404, "Not Found", "number of another account")


def test_outside_calls_go_through_the_trunk_showing_outbound_numbers_in_rotation() -> None:
    r, _ = router()
    account = r.config.account("acme")
    assert account is not None
    caller = account.extension("101")
    assert caller is not None
    shown = []
    for _ in range(3):
        ring = r.route(account, caller, "+84 909 789 846", NOW)
        assert isinstance(ring, Ring) and ring.direction == "outbound" and ring.callee == "0909789846"
        (device,) = ring.stages[0].devices
        assert device.uri == "sip:0909789846@sip.carrier.example:5070"
        assert device.target == Target("UDP", "192.0.2.50", 5070)  # resolved ahead: routing never looks a name up
        shown.append(device.caller_id)
    assert shown == ["sip:02873001234@sip.carrier.example", "sip:02873001235@sip.carrier.example",
                     "sip:02873001234@sip.carrier.example"]


def test_designated_routing_rings_the_primary_then_the_backup() -> None:
    r, _ = router()
    account = r.config.account("acme")
    assert account is not None
    ring = r.route(account, account.extensions[0], "105", NOW)
    assert isinstance(ring, Ring)
    assert [(s.devices[0].uri, s.timeout) for s in ring.stages] == [
        ("sip:0909000001@sip.carrier.example:5070", 12), ("sip:0909000002@sip.carrier.example:5070", 30)]


def test_rrmemory_remembers_who_answered_and_skips_dnd_busy_and_unregistered() -> None:
    phones = {("acme", n): 1 for n in ("102", "103", "104", "105")}
    r, memory = router(phones)
    account = r.config.account("acme")
    assert account is not None
    caller = account.extension("101")
    assert caller is not None
    ring = r.route(account, caller, "600", NOW)
    assert isinstance(ring, Ring) and ring.step == "group 600"
    # 104 is in do-not-disturb; then the overflow, 105, rings its designated numbers.
    assert [s.label for s in ring.stages] == ["600", "600", "0909000001", "0909000002"]
    assert [s.devices[0].member for s in ring.stages[:2]] == ["102", "103"]
    memory.answered("acme", "600", "102")
    again = r.route(account, caller, "600", NOW + 60)
    assert isinstance(again, Ring) and [s.devices[0].member for s in again.stages[:2]] == ["103", "102"]
    busy_router, _ = router(phones, busy={"103"})
    busy = busy_router.route(account, caller, "600", NOW)
    assert isinstance(busy, Ring) and [s.devices[0].member for s in busy.stages[:1]] == ["102"]


def test_leastrecent_rings_the_longest_idle_first_as_now_moves_on() -> None:
    r, memory = router()
    account = r.config.account("acme")
    assert account is not None
    caller = account.extension("101")
    assert caller is not None
    memory.idle("acme", {"102"}, NOW)
    memory.idle("acme", {"103"}, NOW + 30)
    first = r.route(account, caller, "601", NOW + 60)
    assert isinstance(first, Ring) and [s.devices[0].member for s in first.stages] == ["102", "103"]
    memory.idle("acme", {"102"}, NOW + 90)  # 102 took a call that ended later
    second = r.route(account, caller, "601", NOW + 120)
    assert isinstance(second, Ring) and [s.devices[0].member for s in second.stages] == ["103", "102"]


def test_a_hotline_follows_its_time_rules_and_external_groups_show_the_hotline() -> None:
    r, _ = router()
    trunk = r.config.trunk("carrier")
    assert trunk is not None
    day = r.inbound(trunk, ["+842873001234"], NOW)  # 15:00 local
    assert day is not None and day.destination == "600" and day.why == "default" and day.account.name == "acme"
    night = r.inbound(trunk, ["", "02873001234"], NOW + 6 * 3600)  # 21:00 local, named in To only
    assert night is not None and night.destination == "external:mobiles" and night.why == "nights"
    assert r.inbound(trunk, ["0280000000"], NOW) is None
    account = night.account
    group = account.external_group("mobiles")
    assert group is not None
    stages = r.external(account, group, "02873001234", "0909789846", NOW)
    assert [s.label for s in stages] == ["external mobiles", "external mobiles", "102"]
    first = stages[0]
    assert first.confirm == "press-one" and first.group == "external:mobiles"
    (device,) = first.devices
    assert device.member == "0909000001" and device.caller_id == "sip:02873001234@sip.carrier.example"
    assert device.diversion == "<sip:02873001234@sip.carrier.example>;reason=unconditional;counter=1"


def test_routing_memory_keeps_extensions_and_external_groups_numbers_not_any_number_dialled() -> None:
    from pathlib import Path

    from softswitch.b2bua.routing import remembered
    from softswitch.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "config" / "example.yaml")
    acme = config.account("acme")
    assert acme is not None
    assert remembered(acme, ["101", "0909000001", "02838221234", "999", None]) == {"101", "0909000001"}
