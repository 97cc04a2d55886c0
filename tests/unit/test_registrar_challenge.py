"""The registrar's stateless challenge (``RegistrarService.challenge``, the endpoint's hook for
a new REGISTER read from a glance): the same answer ``on_register`` gives once the request is
parsed, counted the same way, and left to the full path wherever the glance cannot decide."""

from __future__ import annotations

from pathlib import Path

from softswitch.config import load_config, load_config_text
from softswitch.guard import Guard
from softswitch.overload import Admission, Shedding
from softswitch.registrar.core import Binding
from softswitch.registrar.service import RegistrarService
from softswitch.sip.auth import Verdict, authorization
from softswitch.sip.peek import Peek, peek_new
from softswitch.sip.transaction import Target
from softswitch.store import MemoryStore

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
PHONE = Target("UDP", "192.0.2.7", 5062)
EDGE = Target("UDP", "10.0.0.10", 5060)


def glance(to: str = "<sip:101@acme.example>", uri: str = "sip:acme.example", call_id: str = "reg-1@test") -> Peek:
    data = (f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-1;rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=f1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            "CSeq: 1 REGISTER\r\nContact: <sip:101@192.0.2.7:5062>\r\nContent-Length: 0\r\n\r\n").encode()
    peek = peek_new(data, "REGISTER")
    assert peek is not None
    return peek


def registrar(cluster: bool = False) -> RegistrarService:
    config = load_config(EXAMPLE)
    if cluster:
        text = EXAMPLE.read_text().replace("store:\n  url: sqlite+aiosqlite:///softswitch.db",
                                           "store:\n  url: postgresql+asyncpg://u:p@127.0.0.1/db")
        config = load_config_text(text + "cluster: {node: a, edges: [10.0.0.10/32]}\n")
    service = RegistrarService(config, MemoryStore(), secret=b"s" * 32, respond=lambda tx, resp: None,
                               tag_factory=lambda: "t", guard=Guard(config))
    service.clock = lambda: 1000.0
    return service


def test_the_challenge_is_the_full_paths_and_its_nonce_is_taken() -> None:
    service = registrar()
    answer = service.challenge(glance(), PHONE)
    assert answer is not None and (answer.status, answer.reason) == (401, "Unauthorized")
    assert [name for name, _ in answer.headers] == ["WWW-Authenticate"] * len(service.auth.algorithms)
    assert service.counters["challenged"] == 1
    credentials = authorization(answer.headers[0][1], "REGISTER", "sip:acme.example", "101", "acme-101-secret", "c1")
    assert credentials is not None
    result = service.auth.verify("REGISTER", [credentials], "acme.example", service.directory.passwords["acme"], 1001.0)
    assert (result.verdict, result.username) == (Verdict.OK, "101")


def test_unanswered_challenges_count_toward_the_sources_ban() -> None:
    service = registrar()
    limit = service.config.security.max_unanswered_challenges
    for _ in range(limit + 1):
        service.challenge(glance(), PHONE)
    assert service.guard.is_banned(PHONE.host) and not service.guard.is_banned("192.0.2.8")


def test_what_the_glance_cannot_decide_is_left_to_the_full_path() -> None:
    service = registrar()
    assert service.challenge(glance(to="<sip:101@nobody.example>"), PHONE) is None  # 404 from the full path
    assert service.challenge(glance(to="<tel:+15550100>"), PHONE) is None  # 400
    assert service.challenge(glance(to="<sip:101@acme.example"), PHONE) is None  # malformed: 400
    assert service.challenge(glance(uri="tel:+15550100"), PHONE) is None  # 416
    assert service.challenge(glance(uri="sipx:acme.example"), PHONE) is None
    assert service.challenge(glance(uri="SIPS:acme.example"), PHONE) is not None
    assert service.counters["challenged"] == 1
    edge = registrar(cluster=True)  # through the edge, the client is in the Vias, and the Path is read
    assert edge.challenge(glance(), EDGE) is None
    assert edge.challenge(glance(), PHONE) is not None


def test_a_storm_of_new_registrations_is_shed_but_not_a_refresh() -> None:
    service = registrar()
    service.admission = Admission(Shedding(), pick=lambda low, high: 7)
    service.admission.ceiling, service.admission.delay = 10.0, 1.0  # behind: delay over half of max_delay
    shed = service.challenge(glance(), PHONE)
    assert shed is not None and (shed.status, shed.headers) == (503, (("Retry-After", "7"),))
    assert service.admission.shed["registrations"] == 1 and service.counters["challenged"] == 0
    service.table.load([Binding("acme", "101", "uri:x", "<sip:101@192.0.2.7:5062>", "sip:101@192.0.2.7:5062", 1600.0,
                                990.0, "reg-1@test", 1, PHONE, True)], 1000.0)
    refresh = service.challenge(glance(), PHONE)  # its Call-ID's binding: a refresh, challenged
    assert refresh is not None and refresh.status == 401
    assert service.challenge(glance(call_id="other@test"), PHONE).status == 503  # type: ignore[union-attr]


async def test_a_registration_holding_a_nul_the_store_could_not_keep_is_refused_before_it_is_made() -> None:
    """PostgreSQL's text refuses a NUL: a REGISTER that would make a binding the store drops
    (lost at a restart, unseen by a cluster's other nodes) is a 400, on every store alike; a
    NUL in the User-Agent (only shown) is kept as U+FFFD by the store instead."""
    import pytest

    from softswitch.sip.errors import RemoteProtocolError
    from softswitch.sip.message import Request, parse_message

    service = registrar()
    challenge = service.challenge(glance(), PHONE)
    assert challenge is not None
    def register(call_id: str = "reg-1@test", contact: str = "<sip:101@192.0.2.7:5062>", cseq: int = 2) -> Request:
        credentials = authorization(challenge.headers[0][1], "REGISTER", "sip:acme.example", "101", "acme-101-secret",
                                    "c1", nc=cseq)
        data = ("REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-2;rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=f1\r\nTo: <sip:101@acme.example>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nAuthorization: {credentials}\r\n"
                "User-Agent: Phone\x00X\r\nContent-Length: 0\r\n\r\n").encode()
        request = parse_message(data)
        assert isinstance(request, Request)
        return request

    for bad in (register(call_id="reg\x00-1@test", cseq=2), register(contact='"Al\\\x00ice" <sip:101@192.0.2.7:5062>', cseq=3),
                register(contact='<sip:101@192.0.2.7:5062>;+sip.instance="<urn:uuid:1\x002>"', cseq=4)):
        with pytest.raises(RemoteProtocolError, match="NUL"):
            service.on_register(None, bad, PHONE)  # type: ignore[arg-type]
        assert service.table.lookup("acme", "101", 1000.0) == []
    service.on_register(None, register(cseq=5), PHONE)  # type: ignore[arg-type]
    (binding,) = service.table.lookup("acme", "101", 1000.0)
    assert binding.user_agent == "Phone\x00X"
