"""A node's signed request to another node of the cluster (a pick-up of a call parked there)."""

from __future__ import annotations

from softswitch.b2bua import peers
from softswitch.sip.uri import parse_uri

SECRET = b"s" * 32
NODE = "127.0.0.11:5060"
NOW = 1_800_000_000.0


def uri(params: str, node: str = NODE) -> object:
    return parse_uri(f"sip:*801@{node}{params}")


def test_a_signed_request_is_good_at_the_node_it_names_within_the_window() -> None:
    params = peers.signed(SECRET, "acme", "104", "*801", NODE, NOW)
    assert peers.verified(SECRET, uri(params), "acme", "104", "*801", [NODE], NOW + peers.WINDOW)
    assert peers.verified(SECRET, uri(params), "acme", "104", "*801", ["10.0.0.1:5060", NODE], NOW - 5)


def test_anything_else_is_refused() -> None:
    params = peers.signed(SECRET, "acme", "104", "*801", NODE, NOW)
    good = uri(params)
    assert not peers.verified(SECRET, good, "acme", "104", "*801", [NODE], NOW + peers.WINDOW + 1)  # too late
    assert not peers.verified(b"x" * 32, good, "acme", "104", "*801", [NODE], NOW)  # another secret
    assert not peers.verified(SECRET, good, "acme", "105", "*801", [NODE], NOW)  # another caller
    assert not peers.verified(SECRET, good, "globex", "104", "*801", [NODE], NOW)  # another account
    assert not peers.verified(SECRET, good, "acme", "104", "*802", [NODE], NOW)  # another slot
    assert not peers.verified(SECRET, uri(params, "127.0.0.12:5060"), "acme", "104", "*801", ["127.0.0.12:5060"], NOW)
    assert not peers.verified(SECRET, good, "acme", "104", "*801", ["127.0.0.12:5060"], NOW)  # not this node's
    assert not peers.verified(SECRET, uri(""), "acme", "104", "*801", [NODE], NOW)  # no signature (an address alone)
    assert not peers.verified(SECRET, uri(";peer-ts=x;peer-sig=y"), "acme", "104", "*801", [NODE], NOW)
    assert not peers.verified(SECRET, uri(";peer-ts=999999999999;peer-sig=y"), "acme", "104", "*801", [NODE], NOW)
    assert not peers.verified(SECRET, parse_uri("tel:+84901234567"), "acme", "104", "*801", [NODE], NOW)
