"""Behind an edge proxy: the Path a REGISTER carries (RFC 3327), the Route that reaches the
phone through it, the Record-Route a dialog's responses copy (RFC 3261 §12.1.1), and the
client behind the edge that failed passwords are counted against."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.b2bua.routing import device_of
from softswitch.config import ConfigError, load_config, load_config_text
from softswitch.guard import Guard
from softswitch.registrar.core import Binding, BindingTable, ContactRequest, Saved
from softswitch.registrar.service import RegistrarService
from softswitch.sip.message import make_response
from softswitch.sip.transaction import Target
from softswitch.store import MemoryStore

from .sipmsg import request

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
EDGE = Target("UDP", "10.0.0.10", 5060)
HOP = "<sip:10.0.0.10:5060;lr;received=sip:192.0.2.7:5062>"


def binding(path: tuple[str, ...] = (HOP,), source: Target = EDGE) -> Binding:
    return Binding("acme", "101", "uri:x", "<sip:101@192.168.1.7:5062>", "sip:101@192.168.1.7:5062", 600.0, 0.0, "c", 1,
                   source, True, path=path)


def test_a_dialog_creating_answer_copies_the_record_route_and_nothing_else_does() -> None:
    rr = "Record-Route: <sip:10.0.0.10;lr;ftag=f1>\r\nRecord-Route: <sip:10.0.0.9;lr>\r\n"
    invite = request("INVITE", extra=rr)
    for status in (180, 200):
        assert make_response(invite, status, to_tag="t").get_all("Record-Route") == ["<sip:10.0.0.10;lr;ftag=f1>", "<sip:10.0.0.9;lr>"]
    assert make_response(invite, 100).get_all("Record-Route") == []
    assert make_response(invite, 486, to_tag="t").get_all("Record-Route") == []
    assert make_response(request("REGISTER", extra=rr), 200, to_tag="t").get_all("Record-Route") == []
    assert make_response(request("INVITE", extra=rr, to_tag="old"), 200).get_all("Record-Route") == []  # a re-INVITE


def test_a_phone_with_a_path_is_reached_at_the_paths_first_hop_with_the_path_as_route() -> None:
    b = binding()
    assert b.target == EDGE
    device = device_of(b, member="101")
    assert (device.uri, device.target, device.route, device.member) == (b.uri, EDGE, (HOP,), "101")
    tcp = binding(("<sip:10.0.0.11:5070;transport=tcp;lr>", HOP), Target("UDP", "10.0.0.99", 5060))
    assert tcp.target == Target("TCP", "10.0.0.11", 5070)
    assert binding(("<tel:+1555>",)).target == EDGE  # not an address: where the REGISTER came from
    plain = binding(())
    assert plain.target == EDGE and device_of(plain).route == ()
    assert b.client == Target("UDP", "192.0.2.7", 5062)  # the phone itself, as the edge saw it
    assert plain.client == EDGE


def test_a_new_path_is_a_change_not_a_refresh() -> None:
    table = BindingTable()
    contact = [ContactRequest("uri:x", "<sip:101@192.168.1.7:5062>", "sip:101@192.168.1.7:5062", None)]

    def register(path: tuple[str, ...], cseq: int) -> Saved:
        outcome = table.register("acme", "101", contact, star=False, expires_header=600, call_id="c", cseq=cseq,
                                 source=EDGE, user_agent="ua", now=0.0, path=path)
        (change,) = outcome.changes
        assert isinstance(change, Saved)
        return change

    first = register((HOP,), 1)
    assert first.binding.path == (HOP,) and first.previous_expiry is None
    again = register((HOP,), 2)
    assert again.refreshed and again.previous_expiry == first.binding.expires_at  # a cluster may skip telling it
    moved = register(("<sip:10.0.0.11;lr>",), 3)
    assert not moved.refreshed and moved.previous_expiry is None and table.lookup("acme", "101", 1.0)[0].path == ("<sip:10.0.0.11;lr>",)


def registrar(cluster: bool) -> RegistrarService:
    config = load_config(EXAMPLE)
    if cluster:
        text = EXAMPLE.read_text().replace("store:\n  url: sqlite+aiosqlite:///softswitch.db",
                                           "store:\n  url: postgresql+asyncpg://u:p@127.0.0.1/db")
        config = load_config_text(text + "cluster: {node: a, edges: [10.0.0.10/32]}\n")
    return RegistrarService(config, MemoryStore(), secret=b"s" * 32, respond=lambda tx, resp: None,
                            tag_factory=lambda: "t", guard=Guard(config))


def test_the_path_is_kept_only_from_the_clusters_edges() -> None:
    register = request("REGISTER", extra=f"Path: {HOP}\r\nPath: <sip:10.0.0.9;lr>, <sip:10.0.0.8;lr>\r\n",
                       via_host="10.0.0.10:5060;branch=z9hG4bKedge\r\nVia: SIP/2.0/UDP 192.168.1.7:5062;received=192.0.2.7;rport=5999")
    edge = registrar(cluster=True)
    assert edge.path(register, EDGE) == (HOP, "<sip:10.0.0.9;lr>", "<sip:10.0.0.8;lr>")
    assert edge.path(register, Target("UDP", "10.0.0.66", 5060)) == ()  # a phone may not steer its own calls
    elsewhere = request("REGISTER", extra="Path: <sip:203.0.113.9:5060;lr>\r\n")
    assert edge.path(elsewhere, EDGE) == ()  # the first hop must be an edge too
    assert edge.path(request("REGISTER", extra=f"Path: {HOP}\r\n", to_tag="x"), EDGE) == ()  # not a registration
    assert registrar(cluster=False).path(register, EDGE) == ()
    # Passwords guessed behind the edge count against the guesser, as the edge saw it.
    assert edge.client(register, EDGE) == Target("UDP", "192.0.2.7", 5999)
    stranger = Target("UDP", "10.0.0.66", 5060)
    assert edge.client(register, stranger) is stranger


def test_a_cluster_needs_postgresql() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config_text(EXAMPLE.read_text() + "cluster: {node: a, edges: [10.0.0.10/32]}\n", "example.yaml")
    assert "example.yaml" in str(raised.value) and "cluster: a cluster needs a shared PostgreSQL store" in str(raised.value)


async def test_crossed_notices_of_two_nodes_never_take_out_a_newer_binding() -> None:
    """A phone's un-REGISTER handled by node a and its new REGISTER by node b: node b's notice of
    the new binding may come before node a's of the removal, at this node or at node b."""
    node = registrar(cluster=True)
    node.clock = lambda: 1000.0
    old = Binding("acme", "101", "uri:x", "<sip:101@192.168.1.7:5062>", "sip:101@192.168.1.7:5062", 1600.0, 990.0,
                  "call-x", 1, EDGE, True, path=(HOP,))
    new = Binding("acme", "101", "uri:x", "<sip:101@192.168.1.7:5062>", "sip:101@192.168.1.7:5062", 1600.0, 999.0,
                  "call-y", 1, EDGE, True, path=(HOP,))
    node.learn([new], [])
    node.learn([], [old])  # the removal of the older one, late: the new binding stays
    assert [b.call_id for b in node.table.lookup("acme", "101", 1000.0)] == ["call-y"]
    node.learn([old], [])  # nor does an older one come back over it
    assert [b.call_id for b in node.table.lookup("acme", "101", 1000.0)] == ["call-y"]
    node.learn([], [new])  # its own removal takes it out
    assert node.table.lookup("acme", "101", 1000.0) == []


@pytest.mark.parametrize("contact", [
    "<sip:101@192.0.2.7>;q=0.1234567", "<sip:101@192.0.2.7>;q=1.5", "<sip:101@192.0.2.7>;q=x",
    "<sip:101@192.0.2.7;x=" + "a" * 1100 + ">", '<sip:101@192.0.2.7>;+sip.instance="<urn:uuid:' + "1" * 300 + '>"',
])
def test_a_contact_the_store_could_not_keep_is_a_bad_request(contact: str) -> None:
    """RFC 3261 §25.1's qvalue, and lengths the registrations table holds: a binding that the
    store (PostgreSQL) would refuse is refused with 400 before it is made, on every node alike."""
    from softswitch.registrar.service import _contact_request
    from softswitch.sip.errors import RemoteProtocolError
    from softswitch.sip.headers import parse_name_addr

    with pytest.raises(RemoteProtocolError):
        _contact_request(parse_name_addr(contact, "Contact"), EDGE)
    assert _contact_request(parse_name_addr("<sip:101@192.0.2.7>;q=0.5", "Contact"), EDGE).q == "0.5"


async def test_a_node_keeps_alive_only_the_flows_of_phones_it_registered_itself() -> None:
    """A phone registered at a node directly (no edge, no Path) is behind its own NAT: only that
    node's keep-alives reach it.  Another node, which learnt the binding, must not ping it, nor
    drop it cluster-wide when its pings go unanswered."""
    from softswitch.registrar.core import Saved

    node = registrar(cluster=True)
    node.clock = lambda: 1000.0
    phone = Target("UDP", "198.51.100.7", 40000)
    theirs = Binding("acme", "101", "uri:x", "<sip:101@192.168.1.7>", "sip:101@192.168.1.7", 1600.0, 999.0, "c", 1,
                     phone, True)
    node.learn([theirs], [])
    assert node.keepalive_flows() == {}
    mine = Binding("acme", "102", "uri:y", "<sip:102@192.168.1.8>", "sip:102@192.168.1.8", 1600.0, 999.0, "d", 1,
                   Target("UDP", "198.51.100.8", 40000), True)
    node.table.load([mine], 1000.0)
    node._changed([Saved(mine)])
    assert list(node.keepalive_flows().values()) == [mine]
    node._changed([Saved(theirs)])  # the phone registered here since: this node keeps it now
    assert set(node.keepalive_flows()) == {phone, mine.source}


def test_a_node_is_not_taken_for_dead_on_one_late_heartbeat() -> None:
    text = EXAMPLE.read_text().replace("store:\n  url: sqlite+aiosqlite:///softswitch.db",
                                       "store:\n  url: postgresql+asyncpg://u:p@127.0.0.1/db")
    with pytest.raises(ConfigError) as raised:
        load_config_text(text + "cluster: {node: a, edges: [10.0.0.10/32], heartbeat: 60, dead_after: 1}\n", "example.yaml")
    assert "example.yaml" in str(raised.value) and "dead_after (1 s) must be at least 3 heartbeats (180 s)" in str(raised.value)
