"""WebRTC media pieces (media/webrtc.py): the port's demultiplexing (RFC 7983), ICE-lite's
answer to a browser's check, and DTLS-SRTP against a DTLS client made as a browser makes one
(pyOpenSSL, client role, its own certificate announced by fingerprint): keys agree both ways,
a wrong fingerprint gives no keys."""

from __future__ import annotations

import datetime

from aioice import stun
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from pylibsrtp import Policy, Session

from softswitch.media.webrtc import SRTP_PROFILE, DtlsSrtp, IceLite, fingerprint_of, identity, kind


def rtp(seq: int, payload: bytes = bytes(160), pt: int = 0) -> bytes:
    return bytes([0x80, pt]) + seq.to_bytes(2, "big") + (160 * seq).to_bytes(4, "big") + b"\x12\x34\x56\x78" + payload


RTCP_RR = bytes([0x81, 201, 0, 7]) + b"\x12\x34\x56\x78" + bytes(24)


def test_the_first_byte_tells_stun_dtls_rtp_and_rtcp_apart() -> None:
    assert kind(b"\x00\x01" + bytes(18)) == "stun" and kind(bytes([22, 0xFE, 0xFD])) == "dtls"
    assert kind(rtp(1)) == "rtp" and kind(rtp(1, pt=0x80 | 111)) == "rtp"  # a marker bit is still RTP
    assert kind(RTCP_RR) == "rtcp" and kind(b"") == "other" and kind(b"\x70") == "other"


def browser_check(ice: IceLite, password: str, username: str | None = None) -> bytes:
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    request.attributes["USERNAME"] = username or f"{ice.ufrag}:brws"
    request.attributes["PRIORITY"] = 1853817087
    request.attributes["ICE-CONTROLLING"] = 0x1234
    request.attributes["USE-CANDIDATE"] = None
    request.add_message_integrity(password.encode())
    return bytes(request)


def test_ice_lite_answers_only_the_browsers_checks_signed_with_its_password() -> None:
    ice = IceLite()
    assert len(ice.ufrag) >= 4 and len(ice.password) >= 22
    answer = ice.answer(browser_check(ice, ice.password), ("192.0.2.7", 50123))
    assert answer is not None
    response = stun.parse_message(answer)
    assert response.message_class == stun.Class.RESPONSE and response.check_message_integrity(ice.password.encode())
    assert response.attributes["XOR-MAPPED-ADDRESS"] == ("192.0.2.7", 50123)
    assert ice.answer(browser_check(ice, "not-the-password-at-all"), ("192.0.2.7", 1)) is None
    assert ice.answer(browser_check(ice, ice.password, "other:brws"), ("192.0.2.7", 1)) is None
    assert ice.answer(b"\x00\x01 not stun at all", ("192.0.2.7", 1)) is None


def browser() -> tuple[SSL.Connection, str]:
    """A DTLS client as a browser is: its own self-signed certificate, SRTP offered."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "browser")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    context = SSL.Context(SSL.DTLS_METHOD)
    context.use_certificate(cert)
    context.use_privatekey(key)
    context.set_tlsext_use_srtp(SRTP_PROFILE)
    context.set_verify(SSL.VERIFY_PEER, lambda *_: True)
    client = SSL.Connection(context, None)
    client.set_connect_state()
    return client, fingerprint_of(cert.public_bytes(serialization.Encoding.DER))


def handshake(client: SSL.Connection, server: DtlsSrtp) -> None:
    """Datagrams back and forth until both sides are done (bounded)."""
    for _ in range(20):
        try:
            client.do_handshake()
        except SSL.WantReadError:
            pass
        flight = []
        while True:
            try:
                flight.append(client.bio_read(65536))
            except SSL.WantReadError:
                break
        for datagram in flight:
            assert kind(datagram) == "dtls"
            for answer in server.feed(datagram):
                client.bio_write(answer)
        if server.established or server.failed:
            try:
                client.do_handshake()
            except SSL.WantReadError:
                continue
            return


def client_sessions(client: SSL.Connection) -> tuple[Session, Session]:
    material = client.export_keying_material(b"EXTRACTOR-dtls_srtp", 60)
    client_key, server_key, client_salt, server_salt = material[:16], material[16:32], material[32:46], material[46:]
    return (Session(Policy(key=client_key + client_salt, ssrc_type=Policy.SSRC_ANY_OUTBOUND)),
            Session(Policy(key=server_key + server_salt, ssrc_type=Policy.SSRC_ANY_INBOUND)))


def test_dtls_srtp_with_a_browser_gives_keys_that_agree_both_ways() -> None:
    client, fingerprint = browser()
    server = DtlsSrtp(fingerprint)
    assert server.timeout() is None  # nothing sent yet: no flight to send again
    handshake(client, server)
    assert server.established and server.failed is None
    assert client.get_selected_srtp_profile() == SRTP_PROFILE
    assert identity().fingerprint == fingerprint_of(
        client.get_peer_certificate(as_cryptography=True).public_bytes(serialization.Encoding.DER))  # what our SDP says
    sending, receiving = client_sessions(client)
    for seq in range(1, 4):
        assert server.unprotect(sending.protect(rtp(seq))) == rtp(seq)
    assert server.unprotect(sending.protect_rtcp(RTCP_RR)) == RTCP_RR
    protected = server.protect(rtp(7))
    assert protected is not None and protected != rtp(7) and receiving.unprotect(protected) == rtp(7)
    rtcp = server.protect(RTCP_RR)
    assert rtcp is not None and receiving.unprotect_rtcp(rtcp) == RTCP_RR
    assert server.unprotect(rtp(9)) is None  # not SRTP: refused, not forwarded
    assert server.timeout() is None


def test_a_certificate_that_is_not_the_sdps_fingerprint_gives_no_keys() -> None:
    client, _ = browser()
    _, other = browser()
    server = DtlsSrtp(other)
    handshake(client, server)
    assert not server.established and server.failed is not None and "fingerprint" in server.failed
    assert server.unprotect(rtp(1)) is None and server.protect(rtp(1)) is None


def test_the_servers_flight_is_sent_again_when_its_timer_runs_out() -> None:
    client, fingerprint = browser()
    server = DtlsSrtp(fingerprint)
    try:
        client.do_handshake()
    except SSL.WantReadError:
        pass
    first = server.feed(client.bio_read(65536))
    assert first  # ServerHello ... flight
    waited = server.timeout()
    assert waited is not None and 0 < waited <= 2
    import time

    time.sleep(waited + 0.05)
    again = server.expired()
    assert again and [kind(d) for d in again] == ["dtls"] * len(again)


def test_the_keys_wait_for_a_fingerprint_that_comes_after_the_handshake() -> None:
    client, fingerprint = browser()
    server = DtlsSrtp()
    handshake_until = 20
    for _ in range(handshake_until):
        try:
            client.do_handshake()
            break
        except SSL.WantReadError:
            pass
        while True:
            try:
                datagram = client.bio_read(65536)
            except SSL.WantReadError:
                break
            for answer in server.feed(datagram):
                client.bio_write(answer)
    assert server.handshaken and not server.established and server.unprotect(rtp(1)) is None
    server.set_remote(fingerprint)
    assert server.established
    sending, _ = client_sessions(client)
    assert server.unprotect(sending.protect(rtp(2))) == rtp(2)
