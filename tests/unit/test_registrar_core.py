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


# --- RFC 3261 §10.3 steps 6 and 7: an out-of-order CSeq aborts the whole request ----------


def uris(table: BindingTable, now: float = 0.0) -> list[str]:
    return sorted(b.uri for b in table.lookup("acme", "101", now))


def test_star_with_stale_cseq_same_call_id_is_500_and_removes_nothing() -> None:
    table = BindingTable()
    reg(table, [contact(1), contact(2)], cseq=5)
    for stale in (4, 5):  # lower, and equal: "not lower than the request's" fails too
        out = reg(table, [], star=True, expires=0, cseq=stale, now=1.0)
        assert out.status == 500 and out.changes == () and out.bindings == ()
    assert uris(table, 1.0) == ["sip:101@10.0.0.1:5060", "sip:101@10.0.0.2:5060"]
    fetch = reg(table, [], cseq=6, now=2.0)  # no Contact: the phone asks what is bound
    assert fetch.status == 200 and len(fetch.bindings) == 2 and fetch.changes == ()


def test_star_with_higher_cseq_same_call_id_removes_all() -> None:
    table = BindingTable()
    reg(table, [contact(1), contact(2)], cseq=5)
    out = reg(table, [], star=True, expires=0, cseq=6, now=1.0)
    assert out.status == 200 and out.bindings == ()
    assert sorted(c.binding.uri for c in out.changes if isinstance(c, Removed)) == [
        "sip:101@10.0.0.1:5060", "sip:101@10.0.0.2:5060"]
    assert uris(table, 1.0) == []


def test_star_with_other_call_id_removes_whatever_the_cseq() -> None:
    table = BindingTable()
    reg(table, [contact(1)], call_id="c1", cseq=50)
    out = reg(table, [], star=True, expires=0, call_id="c2", cseq=1, now=1.0)
    assert out.status == 200 and out.bindings == () and len(out.changes) == 1
    assert uris(table, 1.0) == []


def test_star_is_all_or_nothing_across_call_ids() -> None:
    # One binding from another Call-ID would be removable, but the stale one aborts the request.
    table = BindingTable()
    reg(table, [contact(1)], call_id="other", cseq=1)
    reg(table, [contact(2)], call_id="c1", cseq=9)
    out = reg(table, [], star=True, expires=0, call_id="c1", cseq=3, now=1.0)
    assert out.status == 500 and out.changes == ()
    assert uris(table, 1.0) == ["sip:101@10.0.0.1:5060", "sip:101@10.0.0.2:5060"]


def test_multi_contact_with_one_stale_binding_is_500_and_applies_nothing() -> None:
    table = BindingTable()
    reg(table, [contact(1, expires=600)], call_id="c1", cseq=7)
    reg(table, [contact(2, expires=600)], call_id="c2", cseq=1)
    before = table.lookup("acme", "101", 1.0)
    # contact 3 is new, contact 2 would be removed (other Call-ID), contact 1 is stale (7 >= 4).
    out = reg(table, [contact(3), contact(2, expires=0), contact(1, expires=120)], call_id="c1", cseq=4, now=1.0)
    assert out.status == 500 and out.changes == () and out.bindings == ()
    assert table.lookup("acme", "101", 1.0) == before
    assert table.get_timer() == 600.0


def test_multi_contact_zero_expiry_with_stale_cseq_is_500() -> None:
    table = BindingTable()
    reg(table, [contact(1), contact(2)], cseq=5)
    out = reg(table, [contact(1, expires=0), contact(2, expires=0)], cseq=5, now=1.0)
    assert out.status == 500 and out.changes == ()
    assert len(uris(table, 1.0)) == 2
