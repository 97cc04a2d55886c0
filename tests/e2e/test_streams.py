"""TCP and TLS: responses over the client's own connection, CRLF keep-alives answered
(RFC 5626 §3.5.1), idle connections closed, bindings tied to their connection."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

from softswitch.sip.auth import digest_response

from .harness import Switch, free_port, require_tool, udp_exchange


def make_cert(directory: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def register_text(user: str, port: int, transport: str, local: tuple[str, int], cseq: int, auth: str = "") -> bytes:
    return (
        f"REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/{transport} {local[0]}:{local[1]};branch=z9hG4bKs{cseq}x{time.monotonic_ns()};rport\r\n"
        f"From: <sip:{user}@acme.example>;tag=s{cseq}\r\nTo: <sip:{user}@acme.example>\r\nCall-ID: stream-{user}@test\r\n"
        f"CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local[0]}:{local[1]};transport={transport.lower()}>\r\n"
        f"Max-Forwards: 70\r\nExpires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65535)
        assert chunk, "connection closed"
        data += chunk
    return data


def register_over(sock: socket.socket, transport: str, user: str, password: str) -> bytes:
    local = sock.getsockname()
    sock.sendall(register_text(user, 0, transport, local, 1))
    challenge = read_response(sock)
    assert challenge.startswith(b"SIP/2.0 401 "), challenge[:80]
    nonce = re.search(rb'nonce="([^"]+)"', challenge)
    assert nonce
    response = digest_response("MD5", user, "acme.example", password, "REGISTER", "sip:acme.example", nonce.group(1).decode())
    auth = (f'Authorization: Digest username="{user}", realm="acme.example", nonce="{nonce.group(1).decode()}", '
            f'uri="sip:acme.example", response="{response}", algorithm=MD5\r\n')
    sock.sendall(register_text(user, 0, transport, local, 2, auth))
    return read_response(sock)


def test_tls_listener_registers_over_its_connection(make_switch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cert, key = make_cert(tmp_path)
    tls_port = free_port()
    sw: Switch = make_switch(server={
        "listen": [{"transport": "udp", "address": "127.0.0.1", "port": free_port()},
                   {"transport": "tls", "address": "127.0.0.1", "port": tls_port}],
        "tls": {"certificate": str(cert), "private_key": str(key)},
    })
    context = ssl.create_default_context(cafile=str(cert))  # verifies the switch's certificate
    with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        ok = register_over(tls, "TLS", "103", "acme-103-secret")
        assert ok.startswith(b"SIP/2.0 200 "), ok[:200]
        (row,) = sw.registrations("acme")
        assert row["TRANSPORT"] == "TLS" and row["SOURCE"] == f"127.0.0.1:{tls.getsockname()[1]}"
    # The connection is gone: so is the binding that could only be reached through it.
    sw.wait_for(lambda: sw.registrations("acme") == [], what="TLS binding dropped")
    # A client that never starts its handshake holds no descriptor for long (TLS_HANDSHAKE_TIMEOUT).
    with socket.create_connection(("127.0.0.1", tls_port), timeout=30) as silent:
        opened = time.monotonic()
        try:
            assert silent.recv(16) == b""
        except ConnectionResetError:
            pass
        assert 9 <= time.monotonic() - opened < 25


def test_tcp_crlf_ping_is_answered_with_pong(switch: Switch) -> None:
    with socket.create_connection(("127.0.0.1", switch.port), timeout=5) as sock:
        sock.sendall(b"\r\n\r\n")
        assert sock.recv(16) == b"\r\n"
        ok = register_over(sock, "TCP", "102", "acme-102-secret")  # the connection still works
        assert ok.startswith(b"SIP/2.0 200 ")


def test_idle_tcp_connection_is_closed(make_switch) -> None:  # type: ignore[no-untyped-def]
    sw: Switch = make_switch(transport={"tcp_idle_timeout": 10})
    with socket.create_connection(("127.0.0.1", sw.port), timeout=30) as sock:
        started = time.monotonic()
        assert sock.recv(16) == b""  # closed by the switch
        waited = time.monotonic() - started
    assert 10 <= waited < 20, waited
    assert "closed: idle" in sw.log()


def test_a_connection_that_authenticates_nothing_is_closed_after_tcp_auth_timeout(make_switch) -> None:  # type: ignore[no-untyped-def]
    """As Asterisk's tcpauthtimeout: a connection from an untrusted address that carried no
    authenticated request is let go (a connection flood cannot hold the switch's files for the
    idle timeout); one that registered stays, and so do trusted addresses'."""
    sw: Switch = make_switch(transport={"tcp_auth_timeout": 5})
    with socket.socket() as silent, socket.socket() as registered, socket.socket() as trusted:
        for sock, source in ((silent, "127.0.0.2"), (registered, "127.0.0.3"), (trusted, "127.0.0.1")):
            sock.settimeout(30)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", sw.port))
        opened = time.monotonic()
        assert register_over(registered, "TCP", "102", "acme-102-secret").startswith(b"SIP/2.0 200 ")
        silent.sendall(b"\r\n\r\n")  # keep-alives are not authentication
        assert silent.recv(16) == b"\r\n"
        assert silent.recv(16) == b""  # closed by the switch
        waited = time.monotonic() - opened
        assert 5 <= waited < 25, waited  # at the first sweep past 5 s (every 5 s)
        for sock in (registered, trusted):
            sock.sendall(b"\r\n\r\n")
            assert sock.recv(16) == b"\r\n"
    assert "closed: no authenticated request in 5 s" in sw.log()


def test_a_request_over_the_size_cap_gets_513_over_udp_and_tcp(make_switch) -> None:  # type: ignore[no-untyped-def]
    """RFC 3261 §21.5.14: 513 Message Too Large, not silence; on TCP the connection then closes
    (the rest of the stream cannot be followed)."""
    sw: Switch = make_switch(transport={"max_message_size": 1500})

    def message(transport: str, local: tuple[str, int], length: int) -> bytes:
        return (f"MESSAGE sip:101@acme.example SIP/2.0\r\nVia: SIP/2.0/{transport} {local[0]}:{local[1]};branch=z9hG4bKbig{length}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:102@acme.example>;tag=b1\r\nTo: <sip:101@acme.example>\r\n"
                f"Call-ID: big-{transport}@test\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {length}\r\n\r\n").encode() + b"x" * length

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(5)
        udp.sendto(message("UDP", udp.getsockname(), 3000), ("127.0.0.1", sw.port))
        answer = udp.recv(65535)
    assert answer.startswith(b"SIP/2.0 513 Message Too Large\r\n") and b"branch=z9hG4bKbig3000" in answer
    ack = message("UDP", ("127.0.0.1", 5999), 3000).replace(b"MESSAGE", b"ACK")  # an ACK is never answered
    assert udp_exchange(sw.port, b"\r\n" + ack, wait=1.0) == []
    with socket.create_connection(("127.0.0.1", sw.port), timeout=5) as tcp:
        tcp.sendall(message("TCP", tcp.getsockname(), 3000)[:600])  # its head: the length says enough
        answer = read_response(tcp)
        assert answer.startswith(b"SIP/2.0 513 Message Too Large\r\n"), answer[:100]
        assert tcp.recv(16) == b""  # and closed
    with socket.create_connection(("127.0.0.1", sw.port), timeout=5) as again:  # and the switch goes on
        assert register_over(again, "TCP", "102", "acme-102-secret").startswith(b"SIP/2.0 200 ")
