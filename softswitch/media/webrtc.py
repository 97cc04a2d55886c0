"""WebRTC media on a relay port (a browser phone's leg): ICE-lite, DTLS-SRTP, rtcp-mux.

Theory of operation
-------------------
A browser sends everything for its call to one port of the switch (``a=rtcp-mux``,
RFC 5761), and three protocols share it; the first byte tells them apart (RFC 7983):
0–3 STUN, 20–63 DTLS, 128–191 RTP and RTCP.

* **ICE-lite** (RFC 8445 §2.5): the switch has one host candidate, the relay port, and only
  answers the browser's connectivity checks.  A Binding request is answered only if its
  USERNAME begins with the switch's ufrag and its MESSAGE-INTEGRITY is made with the switch's
  password (both in the switch's SDP); the answer names where the request came from
  (XOR-MAPPED-ADDRESS) and is signed with the same password.  The address of a check that
  passes is where the browser's media comes from: the relay may send there.
* **DTLS-SRTP** (RFC 5763, RFC 5764): the switch's SDP says ``a=setup:passive``, so the
  browser starts the handshake and the switch is the DTLS server, with a certificate made once
  per process (ECDSA P-256).  The browser's certificate must match the ``a=fingerprint`` of
  its SDP, else no key comes out of the handshake.  The SRTP keys are exported from it
  (``EXTRACTOR-dtls_srtp``): the client's key and salt protect what the browser sends, the
  server's what the switch sends.  Profile ``SRTP_AES128_CM_SHA1_80``, which every browser
  offers.
* **SRTP and SRTCP** by libsrtp (``pylibsrtp``): packets from the browser are unprotected
  before the relay forwards them as plain RTP to a desk phone, and packets to the browser are
  protected.  RTCP is told from RTP by its packet type (RFC 5761 §4: 200–211 after the
  marker bit).

OpenSSL does the DTLS through memory buffers: datagrams in, datagrams out, and a timer for
the switch's own flights (``timeout``/``expired``).  No sockets here.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from functools import cache

from aioice import stun
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

SRTP_PROFILE = b"SRTP_AES128_CM_SHA1_80"
KEY_LENGTH, SALT_LENGTH = 16, 14
DTLS_MTU = 1200


def kind(packet: bytes) -> str:
    """What arrived on a WebRTC port (RFC 7983 §7): "stun", "dtls", "rtp", "rtcp" or "other"."""
    if not packet:
        return "other"
    first = packet[0]
    if first < 4:
        return "stun"
    if 20 <= first < 64:
        return "dtls"
    if 128 <= first < 192 and len(packet) >= 2:
        return "rtcp" if 192 <= packet[1] <= 223 else "rtp"  # RFC 5761 §4: RTCP packet types 200..211 (with M)
    return "other"


@dataclass(frozen=True)
class Identity:
    """The switch's DTLS certificate and key, and the fingerprint its SDPs carry."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    fingerprint: str  # "sha-256 AB:CD:..." as a=fingerprint writes it (RFC 8122)


@cache
def identity() -> Identity:
    """One self-signed certificate per process (the fingerprint in the SDP is what is trusted)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "softswitch")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    return Identity(cert, key, fingerprint_of(der))


def fingerprint_of(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return "sha-256 " + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@dataclass
class IceLite:
    """The switch's side of ICE on one port: its credentials, and the checks it answers."""

    ufrag: str = field(default_factory=lambda: secrets.token_hex(4))
    password: str = field(default_factory=lambda: secrets.token_hex(12))  # 24 characters: ICE wants >= 22

    def answer(self, data: bytes, source: tuple[str, int]) -> bytes | None:
        """The success response to a Binding request that is the browser's check of this port,
        or None (not a Binding request, not ours, not signed with our password)."""
        try:
            request = stun.parse_message(data)
        except ValueError:
            return None
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            return None
        username = request.attributes.get("USERNAME", "")
        if not username.startswith(self.ufrag + ":") or not request.check_message_integrity(self.password.encode()):
            return None
        response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = source
        response.add_message_integrity(self.password.encode())
        return bytes(response)


class DtlsSrtp:
    """The DTLS server of one WebRTC leg and, once its handshake is done and the browser's
    certificate matches ``remote_fingerprint`` (its ``a=fingerprint``, sha-256), the SRTP
    sessions.  The fingerprint may come after the handshake (the browser's answer can reach
    the switch after its DTLS does): the keys wait for it."""

    def __init__(self, remote_fingerprint: str | None = None) -> None:
        self.remote_fingerprint = remote_fingerprint.strip() if remote_fingerprint else None
        me = identity()
        context = SSL.Context(SSL.DTLS_METHOD)
        context.use_certificate(me.certificate)
        context.use_privatekey(me.key)
        context.set_tlsext_use_srtp(SRTP_PROFILE)
        context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)  # the SDP vouches
        self.tls = SSL.Connection(context, None)
        self.tls.set_accept_state()
        self.tls.set_ciphertext_mtu(DTLS_MTU)
        self.handshaken = False
        self.established = False
        self.failed: str | None = None
        self.inbound: Session | None = None  # unprotects what the browser sends
        self.outbound: Session | None = None  # protects what the switch sends

    def feed(self, datagram: bytes) -> list[bytes]:
        """A DTLS datagram from the browser; the datagrams to send back."""
        if self.failed is not None:
            return []
        self.tls.bio_write(datagram)
        if not self.established:
            try:
                self.tls.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                self.failed = f"DTLS handshake failed: {exc}"
            else:
                self.handshaken = True
                self._keys()
        else:
            try:
                self.tls.recv(1500)  # an alert, a close: nothing for the call
            except SSL.ZeroReturnError:
                self.failed = "the browser closed DTLS"
            except SSL.Error:
                pass
        return self._pending()

    def set_remote(self, fingerprint: str) -> None:
        """The browser's ``a=fingerprint``, known now (or again, from a later offer)."""
        self.remote_fingerprint = fingerprint.strip()
        if self.handshaken and not self.established and self.failed is None:
            self._keys()

    def timeout(self) -> float | None:
        """Seconds until the switch's last flight is sent again if unanswered (None: none)."""
        return None if self.handshaken or self.failed else self.tls.DTLSv1_get_timeout()

    def expired(self) -> list[bytes]:
        """The flight to send again (its timer ran out)."""
        if self.handshaken or self.failed:
            return []
        self.tls.DTLSv1_handle_timeout()
        return self._pending()

    def _pending(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.tls.bio_read(65536))
            except SSL.WantReadError:
                return out

    def _keys(self) -> None:
        want = self.remote_fingerprint
        if want is None:
            return  # until the browser's description says which certificate it is
        peer = self.tls.get_peer_certificate(as_cryptography=True)
        got = fingerprint_of(peer.public_bytes(serialization.Encoding.DER)) if peer else ""
        if not want.lower().startswith("sha-256 ") or not hmac.compare_digest(got.upper(), want.upper()):
            self.failed = "the browser's certificate does not match its a=fingerprint"
            return
        if self.tls.get_selected_srtp_profile() != SRTP_PROFILE:
            self.failed = "no SRTP profile agreed"
            return
        material = self.tls.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (KEY_LENGTH + SALT_LENGTH))
        client_key, server_key = material[:KEY_LENGTH], material[KEY_LENGTH:2 * KEY_LENGTH]
        salts = material[2 * KEY_LENGTH:]
        client_salt, server_salt = salts[:SALT_LENGTH], salts[SALT_LENGTH:]
        self.inbound = Session(Policy(key=client_key + client_salt, ssrc_type=Policy.SSRC_ANY_INBOUND))
        self.outbound = Session(Policy(key=server_key + server_salt, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        self.established = True

    def unprotect(self, packet: bytes) -> bytes | None:
        """A browser's SRTP or SRTCP packet as plain RTP/RTCP, or None (no keys yet, forged, replayed)."""
        if self.inbound is None:
            return None
        try:
            return self.inbound.unprotect_rtcp(packet) if kind(packet) == "rtcp" else self.inbound.unprotect(packet)
        except SrtpError:
            return None

    def protect(self, packet: bytes) -> bytes | None:
        """Plain RTP/RTCP for the browser, protected; None before the keys."""
        if self.outbound is None:
            return None
        try:
            return self.outbound.protect_rtcp(packet) if kind(packet) == "rtcp" else self.outbound.protect(packet)
        except SrtpError:
            return None
