"""Sign-in links: signed with the switch's link secret and the extension's own password, so they
open their purpose for their extension until they expire, never after a new password, never
changed, never for another purpose; used once."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import load_config
from softswitch.config.schema import Api
from softswitch.ops.web_link import LINPHONE, PHONE, Opened, Redeemed, link_secret, make_link, open_link, phone_url

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
NOW = 1_800_000_000.0
SECRET = b"s" * 32


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    return load_config(EXAMPLE)


def test_a_link_opens_its_extension_until_it_expires(config) -> None:  # type: ignore[no-untyped-def]
    ext = config.account("acme").extension("101")
    token = make_link("acme", ext, NOW, valid=600, secret=SECRET)
    assert open_link(config, token, NOW + 599, secret=SECRET) == Opened("acme", "acme.example", "101", "acme-101-secret",
                                                                        int(NOW + 600))
    assert open_link(config, token, NOW + 600, secret=SECRET) == "This link has expired."


def test_a_new_password_another_secret_or_purpose_or_a_changed_link_opens_nothing(config) -> None:  # type: ignore[no-untyped-def]
    ext = config.account("acme").extension("101")
    made_before = make_link("acme", ext.model_copy(update={"password": "the-old-one"}), NOW, secret=SECRET)
    assert "password may have changed" in str(open_link(config, made_before, NOW, secret=SECRET))
    token = make_link("acme", ext, NOW, secret=SECRET)
    assert isinstance(open_link(config, token, NOW, secret=b"t" * 32), str)  # another switch's secret
    assert isinstance(open_link(config, token, NOW, secret=SECRET, purpose=LINPHONE), str)  # a phone link is not Linphone's
    assert isinstance(open_link(config, make_link("acme", ext, NOW, secret=SECRET, purpose=LINPHONE), NOW, secret=SECRET,
                                purpose=PHONE), str)
    _, mac = token.split(".")
    other = make_link("acme", config.account("acme").extension("102"), NOW, secret=SECRET).split(".")[0]
    assert isinstance(open_link(config, f"{other}.{mac}", NOW, secret=SECRET), str)  # 102's payload, 101's signature
    assert open_link(config, "not a link", NOW, secret=SECRET) == "This link is not valid."
    assert open_link(config, "e30.AAAA", NOW, secret=SECRET) == "This link is not valid."  # {} is not a payload
    assert isinstance(open_link(config, token.split(".")[0] + ".é☃", NOW, secret=SECRET), str)  # not ASCII: refused
    assert isinstance(open_link(config, make_link("globex", ext, NOW, secret=SECRET), NOW, secret=SECRET), str)


def test_a_link_is_used_once_and_forgotten_when_it_would_have_expired() -> None:
    redeemed = Redeemed()
    assert redeemed.first_use("t", NOW + 60, NOW)
    assert not redeemed.first_use("t", NOW + 60, NOW + 30)
    assert redeemed.first_use("u", NOW + 200, NOW + 61) and len(redeemed._until) == 1


def test_links_last_a_second_to_a_week(config) -> None:  # type: ignore[no-untyped-def]
    ext = config.account("acme").extension("101")
    with pytest.raises(ValueError, match="1 s to 7 days"):
        make_link("acme", ext, NOW, valid=8 * 86400, secret=SECRET)


def test_the_secret_is_made_once_beside_the_config_for_its_owner_only(tmp_path: Path) -> None:
    config = tmp_path / "switch.yaml"
    first = link_secret(config)
    assert len(first) == 32 and link_secret(config) == first
    kept = tmp_path / "switch.yaml.links-secret"
    assert kept.stat().st_mode & 0o777 == 0o600


def test_the_page_is_where_the_api_is_reached(config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="set 'api'"):
        phone_url(config)
    served = config.model_copy(update={"api": Api(address="192.0.2.7", port=8443)})
    assert phone_url(served) == "http://192.0.2.7:8443/phone"
