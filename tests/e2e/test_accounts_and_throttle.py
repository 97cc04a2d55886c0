"""Accounts are isolated by domain; failures are answered alike and repeated ones throttled."""

from __future__ import annotations

import re
import subprocess

from softswitch.sip.auth import digest_response

from .harness import Switch, status_of, udp_exchange


def test_same_extension_in_two_accounts_with_own_passwords(switch: Switch) -> None:
    globex = switch.sipp("register_auth.xml", users=[("101", "globex-101-secret")], domain="globex.example")
    acme = switch.sipp("register_auth.xml", users=[("101", "acme-101-secret")], domain="acme.example")
    assert isinstance(globex, subprocess.CompletedProcess) and isinstance(acme, subprocess.CompletedProcess)
    assert globex.returncode == 0, globex.stdout[-2000:]
    assert acme.returncode == 0, acme.stdout[-2000:]
    assert [r["EXT"] for r in switch.registrations("globex")] == ["101"]
    assert [r["EXT"] for r in switch.registrations("acme")] == ["101"]
    # A globex password never works for acme, nor the other way round.
    cross = switch.sipp("register_auth_fail.xml", users=[("101", "globex-101-secret")], domain="acme.example")
    back = switch.sipp("register_auth_fail.xml", users=[("102", "acme-102-secret")], domain="globex.example")
    assert isinstance(cross, subprocess.CompletedProcess) and isinstance(back, subprocess.CompletedProcess)
    assert cross.returncode == 0 and back.returncode == 0


def _register(port: int, user: str, password: str, source: str, n: int) -> list[bytes]:
    """One REGISTER answered by a challenge, then one with credentials; returns both replies."""
    def msg(cseq: int, auth: str = "") -> bytes:
        return (
            f"REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {source}:5999;branch=z9hG4bK{n}x{cseq};rport\r\n"
            f"From: <sip:{user}@acme.example>;tag=t{n}\r\nTo: <sip:{user}@acme.example>\r\nCall-ID: shape-{n}@{source}\r\n"
            f"CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{source}:5999>\r\nMax-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n"
        ).encode()
    (challenge,) = udp_exchange(port, msg(1), source=source)
    nonce = re.search(rb'nonce="([^"]+)"', challenge)
    assert nonce is not None
    response = digest_response("MD5", user, "acme.example", password, "REGISTER", "sip:acme.example", nonce.group(1).decode())
    auth = f'Authorization: Digest username="{user}", realm="acme.example", nonce="{nonce.group(1).decode()}", uri="sip:acme.example", response="{response}", algorithm=MD5\r\n'
    return [challenge, *udp_exchange(port, msg(2, auth), source=source)]


def _shape(reply: bytes) -> tuple[int, list[str]]:
    names = [line.split(b":", 1)[0].decode().lower() for line in reply.split(b"\r\n")[1:] if b":" in line]
    return status_of(reply), names


def test_unknown_extension_and_wrong_password_have_the_same_shape(switch: Switch) -> None:
    wrong = _register(switch.port, "101", "wrong-password", "127.0.0.3", 1)
    unknown = _register(switch.port, "199", "wrong-password", "127.0.0.3", 2)
    assert _shape(wrong[0]) == _shape(unknown[0]) and _shape(wrong[0])[0] == 401
    assert _shape(wrong[1]) == _shape(unknown[1]) and _shape(wrong[1])[0] == 403
    assert len(wrong[1]) - len(unknown[1]) == 0  # same user length, so even the sizes agree


def test_a_thousand_failures_from_one_address_are_throttled(switch: Switch) -> None:
    attacker = "127.0.0.9"
    result = switch.sipp("register_auth_fail.xml", "-recv_timeout", "2000", calls=1000, rate=500,
                         users=[("101", "guess-password")] * 1000, local_ip=attacker, timeout=30)
    assert isinstance(result, subprocess.CompletedProcess)
    log = switch.log()
    assert "banning 127.0.0.9" in log
    answered = log.count("authentication failed from 127.0.0.9")
    assert 20 <= answered < 40, answered  # the ban threshold, give or take requests in flight
    # While banned, the attacker gets nothing; everyone else is served.
    assert udp_exchange(switch.port, _probe(attacker), source=attacker, wait=0.5) == []
    ok = switch.sipp("register_auth.xml", users=[("101", "acme-101-secret")])
    assert isinstance(ok, subprocess.CompletedProcess) and ok.returncode == 0, ok.stdout[-2000:]


def _probe(source: str) -> bytes:
    return (
        f"OPTIONS sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {source}:5999;branch=z9hG4bKprobe;rport\r\n"
        f"From: <sip:x@{source}>;tag=1\r\nTo: <sip:acme.example>\r\nCall-ID: probe@{source}\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
