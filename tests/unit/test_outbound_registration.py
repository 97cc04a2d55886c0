"""A trunk's registration to its provider (RFC 3261 §10.2): challenge, refresh, failure back-off."""

from __future__ import annotations

from softswitch.registrar.outbound import OutboundRegistration
from softswitch.sip.message import Request, Response, make_response


def reg() -> OutboundRegistration:
    return OutboundRegistration(
        trunk="p", registrar_uri="sip:provider.example", aor="sip:trunkuser@provider.example",
        contact="<sip:trunkuser@192.0.2.9:5060>", username="trunkuser", password="pw", expires=300,
        call_id="cid", tag="tag", user_agent="softswitch",
    )


def answer(req: Request, status: int, extra: dict[str, str] | None = None) -> Response:
    resp = make_response(req, status, to_tag="r")
    for k, v in (extra or {}).items():
        resp.add(k, v)
    return resp


def test_challenge_answered_once_then_refresh_at_80_percent() -> None:
    r = reg()
    assert r.get_timer() == 0.0
    first = r.request("SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK1", 100.0)
    assert r.get_timer() is None and r.status.state == "registering"
    challenge = answer(first, 401, {"WWW-Authenticate": 'Digest realm="provider.example", nonce="n", qop="auth"'})
    assert r.on_response(challenge, 100.1)
    second = r.request("SIP/2.0/UDP h;branch=z9hG4bK2", 100.1, challenge, "cn")
    assert second.call_id == first.call_id and second.from_.tag == "tag" and second.cseq.number == 2
    assert (second.get("Authorization") or "").startswith('Digest username="trunkuser", realm="provider.example"')
    ok = answer(second, 200, {"Contact": "<sip:trunkuser@192.0.2.9:5060>;expires=100"})
    assert not r.on_response(ok, 100.2)
    assert r.status.state == "registered" and r.status.expires_at == 200.2 and r.get_timer() == 180.2


def test_second_challenge_means_wrong_credentials_and_failures_back_off() -> None:
    r = reg()
    challenge = {"WWW-Authenticate": 'Digest realm="p", nonce="n"'}
    req = r.request("v", 0.0)
    first = answer(req, 401, challenge)
    assert r.on_response(first, 0.1)
    req = r.request("v", 0.1, first, "c")
    assert not r.on_response(answer(req, 401, challenge), 0.2)
    assert r.status.state == "failed" and "credentials refused" in r.status.last_status
    assert r.get_timer() == 30.2
    r.request("v", 30.2)
    assert not r.on_response(None, 62.2)
    assert r.status.last_status == "timeout" and r.get_timer() == 122.2  # 60 s: doubled


def test_423_takes_the_providers_minimum() -> None:
    r = reg()
    req = r.request("v", 0.0)
    assert not r.on_response(answer(req, 423, {"Min-Expires": "600"}), 0.1)
    assert r.expires == 600 and r.get_timer() == 0.1
    assert r.request("v", 0.1).get("Expires") == "600"
