"""IPv6 sources (security.source_key, Guard.source_of): one subscriber holds a whole /64 and may
send from any address in it, so its addresses are counted and banned as one source, as one
NAT address is; a trusted address stays exempt without its neighbours being so."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import load_config
from softswitch.config.schema import Config
from softswitch.guard import Guard
from softswitch.security import source_key
from softswitch.sip.transaction import Target

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


def test_the_source_an_address_counts_as() -> None:
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert source_key("[2001:db8:1:2::7]") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:2::7", 48) == "2001:db8:1::/48"
    assert source_key("2001:db8:1:2::7", 128) == "2001:db8:1:2::7"
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"  # IPv4-mapped: the IPv4 address
    assert source_key("not an address:") == "not an address:"


def config(**security: object) -> Config:
    cfg = load_config(EXAMPLE)
    return cfg.model_copy(update={"security": cfg.security.model_copy(update=security)})


def flood(guard: Guard, hosts: list[str]) -> int:
    """OPTIONS from each of ``hosts`` in turn, as the endpoint screens them: how many got through."""
    served = 0
    for i, host in enumerate(hosts):
        if not guard.is_banned(host) and guard.admit_new("OPTIONS", Target("UDP", host, 5060 + i)):
            served += 1
    return served


def test_a_flood_from_every_address_of_one_64_is_banned_as_one_source() -> None:
    clock = [1000.0]
    guard = Guard(config(), clock=lambda: clock[0])
    hosts = [f"2001:db8:1:2::{i:x}" for i in range(1, 500)]
    assert flood(guard, hosts) == 60  # security.max_requests.other: then the /64 is banned
    assert [row["source"] for row in guard.listing()] == ["2001:db8:1:2::/64"]
    assert guard.is_banned("2001:db8:1:2:ffff::1")  # an address it had not used yet
    assert not guard.is_banned("2001:db8:1:3::1")  # the next /64 is someone else
    assert guard.lift("2001:db8:1:2::77")["lifted"] == "2001:db8:1:2::/64"  # lifted by any of its addresses
    assert not guard.is_banned("2001:db8:1:2::1")
    assert flood(guard, hosts) == 60
    assert guard.lift("2001:db8:1:2::/64")["lifted"] == "2001:db8:1:2::/64"  # or as bans lists it


def test_each_address_alone_with_a_prefix_of_128() -> None:
    guard = Guard(config(ipv6_prefix=128), clock=lambda: 1000.0)
    assert flood(guard, [f"2001:db8:1:2::{i:x}" for i in range(1, 500)]) == 499


def test_a_trusted_address_is_exempt_and_its_neighbours_are_not() -> None:
    guard = Guard(config(trusted_networks=["2001:db8:1:2::10/128"]), clock=lambda: 1000.0)
    assert flood(guard, ["2001:db8:1:2::10"] * 500) == 500
    assert flood(guard, [f"2001:db8:1:2::{i:x}" for i in range(0x100, 0x300)]) == 60
    assert not guard.is_banned("2001:db8:1:2::10")  # its /64 is banned, the trusted address is not


def test_failed_passwords_from_one_64_add_up() -> None:
    guard = Guard(config(ban_threshold=10), clock=lambda: 1000.0)
    banned = [guard.failed(f"2001:db8:5:6::{i}") for i in range(1, 11)]
    assert banned == [False] * 9 + [True]
    assert guard.is_banned("2001:db8:5:6::99")


def test_one_address_written_as_a_network_is_lifted_as_that_address() -> None:
    guard = Guard(config(ban_threshold=10), clock=lambda: 1000.0)
    while not guard.failed("192.0.2.7"):
        pass
    assert guard.lift("192.0.2.7/32")["lifted"] == "192.0.2.7"
    while not guard.failed("2001:db8:5:6::1"):
        pass
    assert guard.lift("2001:db8:5:6::9/128")["lifted"] == "2001:db8:5:6::/64"


def test_a_bad_address_to_lift_is_refused() -> None:
    guard = Guard(config(), clock=lambda: 1000.0)
    with pytest.raises(ValueError, match="not an IP address"):
        guard.lift("2001:db8:1:2::1/64")  # host bits set: not a source as listed
