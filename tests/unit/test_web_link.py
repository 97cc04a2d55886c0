"""Sign-in links for the browser phone: signed with the extension's own password, so they open
the page for their extension until they expire, never after a new password, never changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import load_config
from softswitch.config.schema import Api
from softswitch.ops.web_link import Opened, Redeemed, make_link, open_link, phone_url

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    return load_config(EXAMPLE)


def test_a_link_opens_its_extension_until_it_expires(config) -> None:  # type: ignore[no-untyped-def]
    ext = config.account("acme").extension("101")
    token = make_link("acme", ext, NOW, valid=600)
    assert open_link(config, token, NOW + 599) == Opened("acme", "acme.example", "101", "acme-101-secret", int(NOW + 600))
    assert open_link(config, token, NOW + 600) == "This link has expired."


def test_a_new_password_or_a_changed_link_opens_nothing(config) -> None:  # type: ignore[no-untyped-def]
    ext = config.account("acme").extension("101")
    made_before = make_link("acme", ext.model_copy(update={"password": "the-old-one"}), NOW)
    assert "password may have changed" in str(open_link(config, made_before, NOW))
    _, mac = make_link("acme", ext, NOW).split(".")
    other = make_link("acme", config.account("acme").extension("102"), NOW).split(".")[0]
    assert isinstance(open_link(config, f"{other}.{mac}", NOW), str)  # another extension's payload, 101's signature
    assert open_link(config, "not a link", NOW) == "This link is not valid."
    assert open_link(config, "e30.AAAA", NOW) == "This link is not valid."  # {} is not a link's payload
    assert isinstance(open_link(config, make_link("globex", ext, NOW), NOW), str)  # 101's password, globex's 101


def test_a_link_is_used_once_and_forgotten_when_it_would_have_expired() -> None:
    redeemed = Redeemed()
    assert redeemed.first_use("t", NOW + 60, NOW)
    assert not redeemed.first_use("t", NOW + 60, NOW + 30)
    assert redeemed.first_use("u", NOW + 200, NOW + 61) and len(redeemed._until) == 1


def test_links_last_a_second_to_a_week(config) -> None:  # type: ignore[no-untyped-def]
    ext = config.account("acme").extension("101")
    with pytest.raises(ValueError, match="1 s to 7 days"):
        make_link("acme", ext, NOW, valid=8 * 86400)


def test_the_page_is_where_the_api_is_reached(config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="set 'api'"):
        phone_url(config)
    served = config.model_copy(update={"api": Api(address="192.0.2.7", port=8443)})
    assert phone_url(served) == "http://192.0.2.7:8443/phone"
