"""The bindings table (RFC 3261 §10.3, RFC 5626 §6) with time stepped by hand."""

from __future__ import annotations

from softswitch.registrar.core import BindingTable, ContactRequest, Removed, Rules, Saved
from softswitch.sip.transaction import Target

SRC = Target("UDP", "127.0.0.1", 5062)


def contact(n: int = 1, expires: int | None = None, instance: str | None = None, reg_id: int | None = None) -> ContactRequest:
    uri = f"sip:101@10.0.0.{n}:5060"
    key = f"instance:{instance}:{reg_id}" if instance else f"uri:{uri}"
    return ContactRequest(key, f"<{uri}>", uri, expires, instance=instance, reg_id=reg_id)


def reg(table: BindingTable, contacts: list[ContactRequest], now: float = 0.0, *, expires: int | None = None,
        call_id: str = "c1", cseq: int = 1, star: bool = False):  # type: ignore[no-untyped-def]
    return table.register("acme", "101", contacts, star=star, expires_header=expires, call_id=call_id,
                          cseq=cseq, source=SRC, user_agent="test", now=now)


def test_default_expiry_and_lookup() -> None:
    table = BindingTable()
    out = reg(table, [contact()])
    assert out.status == 200 and out.bindings[0].expires_in(0.0) == 3600
    assert [type(c) for c in out.changes] == [Saved]
    assert table.lookup("acme", "101", 3599.0) and not table.lookup("acme", "101", 3600.0)


def test_below_minimum_is_423_and_changes_nothing() -> None:
    table = BindingTable()
    out = reg(table, [contact(1), contact(2, expires=30)])
    assert out.status == 423 and out.min_expires == 60
    assert table.lookup("acme", "101", 0.0) == []


def test_above_maximum_is_clamped() -> None:
    out = reg(BindingTable(Rules(max_expires=1800)), [contact(expires=7200)])
    assert out.bindings[0].expires_in(0.0) == 1800


def test_per_contact_expires_beats_header() -> None:
    out = reg(BindingTable(), [contact(1, expires=120), contact(2)], expires=600)
    assert sorted(b.expires_in(0.0) for b in out.bindings) == [120, 600]


def test_zero_removes_one_binding() -> None:
    table = BindingTable()
    reg(table, [contact(1), contact(2)])
    out = reg(table, [contact(1, expires=0)], cseq=2, now=1.0)
    assert [b.uri for b in out.bindings] == ["sip:101@10.0.0.2:5060"]
    assert isinstance(out.changes[0], Removed)


def test_star_requires_expires_zero() -> None:
    table = BindingTable()
    reg(table, [contact(1)])
    assert reg(table, [], star=True, expires=3600, cseq=2).status == 400
    out = reg(table, [], star=True, expires=0, cseq=3)
    assert out.status == 200 and out.bindings == ()


def test_out_of_order_cseq_same_call_id_is_500() -> None:
    table = BindingTable()
    reg(table, [contact()], cseq=5)
    assert reg(table, [contact()], cseq=5).status == 500
    assert reg(table, [contact()], cseq=6).status == 200
    assert reg(table, [contact()], call_id="other", cseq=1).status == 200


def test_contact_limit_replaces_the_oldest() -> None:
    table = BindingTable(Rules(max_contacts=2))
    reg(table, [contact(1)], now=0.0, call_id="a")
    reg(table, [contact(2)], now=1.0, call_id="b")
    out = reg(table, [contact(3)], now=2.0, call_id="c")
    assert out.status == 200
    assert sorted(b.uri for b in out.bindings) == ["sip:101@10.0.0.2:5060", "sip:101@10.0.0.3:5060"]
    assert any(isinstance(c, Removed) and c.binding.uri.endswith("10.0.0.1:5060") for c in out.changes)


def test_same_instance_replaces_old_binding() -> None:
    table = BindingTable()
    reg(table, [contact(1, instance="<urn:uuid:a>", reg_id=1)], call_id="x")
    out = reg(table, [contact(9, instance="<urn:uuid:a>", reg_id=1)], call_id="y", now=5.0)
    assert [b.uri for b in out.bindings] == ["sip:101@10.0.0.9:5060"]


def test_expire_reports_and_timer() -> None:
    table = BindingTable()
    reg(table, [contact(1, expires=60), contact(2, expires=120)])
    assert table.get_timer() == 60.0
    gone = table.expire(60.0)
    assert [c.binding.uri for c in gone] == ["sip:101@10.0.0.1:5060"]
    assert table.get_timer() == 120.0


def test_refresh_moves_expiry() -> None:
    table = BindingTable()
    reg(table, [contact(1, expires=60)], cseq=1)
    reg(table, [contact(1, expires=60)], cseq=2, now=50.0)
    assert table.expire(60.0) == []
    assert table.lookup("acme", "101", 100.0)


def test_remove_flow() -> None:
    table = BindingTable()
    reg(table, [contact(1), contact(2)])
    assert len(table.remove_flow(SRC, 1.0, "flow dead")) == 2
    assert table.lookup("acme", "101", 1.0) == []
