"""Every RFC 4475 message, live over UDP (and the framing cases over TCP), against a running
switch that keeps serving registrations meanwhile."""

from __future__ import annotations

import socket
import subprocess
import time

from softswitch.sip.layer import has_cookie, server_key
from softswitch.sip.message import MessageError, Request, parse_message

from ..golden.corpus import CASES, Case
from .harness import Switch, options, status_of, udp_exchange

# What this switch (registrar and UAS/B2BUA; it owns example.com in the test config) answers.
# None: the message is a response and must be dropped without an answer.
LIVE: dict[str, set[int] | None] = {
    "intmeth.sip": {501}, "esc02.sip": {501}, "escnull.sip": {401}, "dblreq.sip": {401},
    "lwsdisp.sip": {200}, "semiuri.sip": {200}, "transports.sip": {200}, "badbranch.sip": {200},
    "unkscm.sip": {416}, "novelsc.sip": {416}, "unksm2.sip": {400}, "bext01.sip": {420},
    "invut.sip": {415}, "regaut01.sip": {401}, "zeromf.sip": {200, 483}, "sdp01.sip": {406},
    "cparam01.sip": {401}, "cparam02.sip": {401}, "regescrt.sip": {401},
    "test.sip": None,  # no Via at all: nowhere to send a 400, so a counted drop
    "unreason.sip": None, "noreason.sip": None, "scalarlg.sip": None, "bigcode.sip": None, "bcast.sip": None,
}


def expected_for(case: Case) -> set[int] | None:
    if case.file in LIVE:
        return LIVE[case.file]
    if case.verdict == "reject":
        return set(case.expected_status)
    if case.verdict == "reject-or-tolerate":
        return {400} | set(range(200, 700)) - {500}
    return set(range(200, 700)) - {400, 500}  # accepted: processed, whatever the policy answer


def _call_id(data: bytes) -> bytes | None:
    for line in data.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i") and value.strip():
            return value.strip()
    return None


def _transaction_key(data: bytes) -> tuple[object, ...] | None:
    try:
        msg = parse_message(data)
    except MessageError:
        return None
    if not isinstance(msg, Request) or not has_cookie(msg.vias[0].branch):
        return None
    return server_key(msg)


def _exchange(sock: socket.socket, port: int, data: bytes, answer_expected: bool, match: set[bytes]) -> set[bytes]:
    """Send; gather the distinct replies that carry one of ``match`` (Call-IDs; none: any reply).
    Retransmitted final responses to INVITE (Timer G) are the same bytes and count once."""
    sock.sendto(data, ("127.0.0.1", port))
    found: set[bytes] = set()
    deadline = time.monotonic() + (1.0 if answer_expected else 0.4)
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            reply = sock.recv(65535)
        except TimeoutError:
            break
        if not match or any(m in reply for m in match):
            found.add(reply)
            deadline = min(deadline, time.monotonic() + 0.3)
    return found


def test_rfc4475_live_over_udp_while_registering(switch: Switch) -> None:
    users = [(str(n), f"pw-{n}-secret") for n in range(200, 300)]
    sipp = switch.sipp("register_auth.xml", calls=100, rate=10, users=users, background=True)
    assert isinstance(sipp, subprocess.Popen)
    failures = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        seen: dict[tuple[object, ...], bytes | None] = {}
        for case in CASES:
            want = expected_for(case)
            # RFC 4475 reuses branches: a message with the branch, sent-by and method of an earlier
            # one is, to an RFC 3261 server that kept the transaction, a retransmission, answered
            # with the earlier response; a REGISTER's challenge is answered statelessly (§8.2.7),
            # from the message itself.
            key = _transaction_key(case.data)
            match = {m for m in (seen.get(key) if key is not None else None, _call_id(case.data)) if m is not None}
            if key is not None:
                seen.setdefault(key, _call_id(case.data))
            replies = _exchange(sock, switch.port, case.data, want is not None, match)
            if want is None:
                if replies:
                    failures.append(f"{case.file}: expected no answer, got {next(iter(replies))[:40]!r}")
            elif len(replies) != 1:
                failures.append(f"{case.file}: expected one answer, got {len(replies)}")
            elif status_of(next(iter(replies))) not in want:
                failures.append(f"{case.file}: got {status_of(next(iter(replies)))}, expected one of {sorted(want)[:6]}")
            assert options(switch.port) == 200, f"switch stopped answering after {case.file}"
    out, _ = sipp.communicate(timeout=60)
    assert not failures, "\n".join(failures)
    assert sipp.returncode == 0, out[-3000:]
    assert switch.alive()
    assert len(switch.registrations("acme")) == 100


def test_rfc4475_error_responses_copy_what_could_be_read(switch: Switch) -> None:
    case = next(c for c in CASES if c.file == "badinv01.sip")
    (reply,) = udp_exchange(switch.port, case.data)
    assert reply.startswith(b"SIP/2.0 400 ")
    for header in (b"\r\nCall-ID: badinv01.", b"\r\nCSeq: 8 INVITE", b"\r\nFrom: ", b"\r\nTo: "):
        assert header in reply


def _tcp_send(port: int, data: bytes, wait: float) -> bytes | None:
    """Send on a new TCP connection; what came back before close (b'' when closed), None if still open."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                chunk = s.recv(65535)
                if not chunk:
                    return got
                got += chunk
        except TimeoutError:
            return None
        return None


def test_framing_errors_close_tcp_connections_and_others_survive(switch: Switch) -> None:
    by_name = {c.file: c for c in CASES}
    for name in ("ncl.sip", "mcl01.sip"):
        assert _tcp_send(switch.port, by_name[name].data, wait=3.0) == b"", f"{name}: connection not closed"
    # Content-Length larger than what arrived: the switch waits for the rest (and times out later).
    assert _tcp_send(switch.port, by_name["clerr.sip"].data, wait=1.0) is None
    ok = by_name["lwsdisp.sip"].data
    with socket.create_connection(("127.0.0.1", switch.port), timeout=3) as s:
        s.sendall(ok)
        assert s.recv(65535).startswith(b"SIP/2.0 200 ")
    assert options(switch.port) == 200


def test_a_burst_of_requests_waits_in_the_socket_instead_of_being_dropped(switch: Switch) -> None:
    """3,000 OPTIONS sent back to back (phones re-registering after a power cut look like this):
    every one is answered; the SIP socket's buffer holds the burst while the loop works."""
    count = 3000
    received: set[str] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for n in range(count):
            sock.sendto((
                f"OPTIONS sip:127.0.0.1:{switch.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKburst{n}\r\n"
                f"From: <sip:probe@127.0.0.1>;tag=b{n}\r\nTo: <sip:127.0.0.1:{switch.port}>\r\n"
                f"Call-ID: burst-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ).encode(), ("127.0.0.1", switch.port))
        sock.settimeout(5.0)
        try:
            while len(received) < count:
                reply = sock.recv(65535)
                assert status_of(reply) == 200
                received.add(reply.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0].decode())
        except TimeoutError:
            pass
    assert len(received) == count
