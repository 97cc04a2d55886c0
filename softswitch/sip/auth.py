"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760).

Theory of operation
-------------------
Nonces are stateless: ``issued-time . counter . HMAC(secret, time.counter.realm)``,
so any node sharing the secret can check one, and an expired nonce is told
apart from a forged one (``stale=true`` only for the former; RFC 7616 §3.3).
What needs state is replay protection: the highest nonce-count seen per nonce
(a nonce without ``qop`` may be used once), kept until the nonce expires.
An unknown user is checked against a throw-away secret through the same code
path as a wrong password, so both fail alike and nothing tells a scanner which
extensions exist.  No clock and no randomness here: ``now`` and the secret
come from the caller.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass

from .errors import RemoteProtocolError
from .scanner import is_token

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class Verdict(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials for this realm: challenge
    STALE = "stale"  # well-formed and correct, but the nonce expired: challenge with stale=true
    FAILED = "failed"  # wrong user, password, nonce, replay ...


@dataclass(frozen=True, slots=True)
class AuthResult:
    verdict: Verdict
    username: str | None = None
    reason: str = ""


_SCHEME = re.compile(r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)(?:[ \t]+|\Z)")
_AUTH_PARAM = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*(?:\"((?:[^\"\\]|\\.)*)\"|([^\s,\"]*))[ \t]*(?:,|\Z)"
)
_QUOTED_PAIR = re.compile(r"\\(.)")


def parse_credentials(value: str) -> tuple[str, dict[str, str]]:
    """``Digest username="x", realm="y", ...`` → (scheme, {lower-case name: value})
    (RFC 3261 §25.1 credentials; RFC 7616 §3.4).  One C-level pass over the parameters;
    stray text between them is skipped, which cannot help an attacker: the digest itself
    must still verify."""
    m = _SCHEME.match(value)
    found = _AUTH_PARAM.findall(value, m.end()) if m is not None else []
    if m is None or not found:
        raise RemoteProtocolError(f"Authorization: no scheme and parameters in {value[:40]!r}")
    params = {}
    for name, quoted, token in found:
        params[name.lower()] = token if not quoted else _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
    return m.group(1), params


def _h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8", "surrogateescape")).hexdigest()


def digest_response(
    algorithm: str, username: str, realm: str, password: str, method: str, uri: str, nonce: str,
    qop: str | None = None, nc: str | None = None, cnonce: str | None = None,
) -> str:
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def authorization(challenge: str, method: str, uri: str, username: str, password: str, cnonce: str, nc: int = 1) -> str | None:
    """The client side: credentials answering one ``WWW-Authenticate``/``Proxy-Authenticate``
    value (RFC 3261 §22.2, RFC 7616 §3.4), or None when it is not a digest we can answer."""
    try:
        scheme, params = parse_credentials(challenge)
    except RemoteProtocolError:
        return None
    algorithm = params.get("algorithm", "MD5").upper()
    if scheme.lower() != "digest" or algorithm not in ALGORITHMS or "nonce" not in params:
        return None
    realm, nonce = params.get("realm", ""), params["nonce"]
    offered = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in offered else None
    nc_text = f"{nc:08x}"
    response = digest_response(algorithm, username, realm, password, method, uri, nonce,
                               qop, nc_text if qop else None, cnonce if qop else None)
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
             f'response="{response}"', f"algorithm={algorithm}"]
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(parts)


class DigestAuthenticator:
    def __init__(
        self, secret: bytes, *, nonce_lifetime: float = 300.0,
        algorithms: tuple[str, ...] = ("MD5",), max_tracked: int = 1_000_000,
    ) -> None:
        for alg in algorithms:
            if alg not in ALGORITHMS:
                raise ValueError(f"unsupported digest algorithm {alg!r}")
        self._secret = secret
        self.nonce_lifetime = nonce_lifetime
        self.algorithms = algorithms
        self.opaque = hashlib.sha256(b"opaque" + secret).hexdigest()[:16]
        self._counter = 0
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()  # nonce -> (issued, last nc)
        self._max_tracked = max_tracked

    # --- nonces -----------------------------------------------------------
    def _sign(self, body: bytes, realm: str) -> bytes:
        return hmac.digest(self._secret, body + realm.encode(), "sha256")[:12]

    def make_nonce(self, realm: str, now: float) -> str:
        self._counter = (self._counter + 1) & 0xFFFFFFFF
        body = struct.pack(">dI", now, self._counter)
        return base64.urlsafe_b64encode(body + self._sign(body, realm)).decode().rstrip("=")

    def _nonce_time(self, nonce: str, realm: str) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return None
        if len(raw) != 24 or not hmac.compare_digest(raw[12:], self._sign(raw[:12], realm)):
            return None
        (issued, _) = struct.unpack(">dI", raw[:12])
        return float(issued)

    def challenges(self, realm: str, now: float, *, stale: bool = False) -> list[str]:
        """WWW-Authenticate values, most preferred algorithm first (RFC 8760 §2.4)."""
        nonce = self.make_nonce(realm, now)
        out = []
        for alg in self.algorithms:
            value = f'Digest realm="{realm}", nonce="{nonce}", opaque="{self.opaque}", algorithm={alg}, qop="auth"'
            out.append(value + (", stale=true" if stale else ""))
        return out

    # --- verification -----------------------------------------------------
    def verify(
        self, method: str, header_values: list[str], realm: str,
        password_of: dict[str, str] | None, now: float,
    ) -> AuthResult:
        """Check the credentials for ``realm`` among ``header_values``.

        ``password_of`` maps usernames to passwords; a missing user fails exactly
        like a wrong password."""
        params: dict[str, str] | None = None
        for value in header_values:
            try:
                scheme, candidate = parse_credentials(value)
            except RemoteProtocolError as exc:  # a malformed credential is a failed one
                return AuthResult(Verdict.FAILED, None, exc.reason)
            if scheme.lower() == "digest" and candidate.get("realm") == realm:
                params = candidate
                break
        if params is None:
            return AuthResult(Verdict.MISSING)
        username = params.get("username", "")
        nonce, uri, response = params.get("nonce", ""), params.get("uri", ""), params.get("response", "")
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in self.algorithms:
            return AuthResult(Verdict.FAILED, username, f"algorithm {algorithm} not offered")
        if not (username and nonce and uri and response):
            return AuthResult(Verdict.FAILED, username, "incomplete credentials")
        if params.get("opaque", self.opaque) != self.opaque:
            return AuthResult(Verdict.FAILED, username, "opaque does not match")
        # The digest covers the ``uri`` the client chose; clients disagree about what it should be
        # (SIPp uses the remote address), so it is not required to equal the Request-URI.
        qop, nc, cnonce = params.get("qop"), params.get("nc"), params.get("cnonce")
        if qop is not None and (qop != "auth" or not nc or not cnonce or len(nc) != 8 or not is_token(nc)):
            return AuthResult(Verdict.FAILED, username, "bad qop/nc/cnonce")
        known = password_of is not None and username in password_of
        password = password_of[username] if known and password_of is not None else "\x00" + self.opaque
        expected = digest_response(algorithm, username, realm, password, method, uri, nonce, qop, nc, cnonce)
        given = response.lower().encode("utf-8", "surrogateescape")  # not necessarily ASCII: bytes compare
        if not hmac.compare_digest(expected.encode(), given) or not known:
            return AuthResult(Verdict.FAILED, username, "wrong credentials")
        # The password is right: a nonce we no longer know (issued before a restart, or
        # by another node with another secret) or one that expired earns a fresh challenge.
        issued = self._nonce_time(nonce, realm)
        if issued is None or now - issued > self.nonce_lifetime:
            return AuthResult(Verdict.STALE, username, "nonce expired or unknown")
        try:
            count = int(nc, 16) if nc else 0
        except ValueError:
            return AuthResult(Verdict.FAILED, username, "bad nonce-count")
        last = self._seen.get(nonce)
        if last is not None and (count <= last[1] or not qop):
            return AuthResult(Verdict.FAILED, username, "nonce-count replayed")
        self._remember(nonce, issued, count, now)
        return AuthResult(Verdict.OK, username)

    def _remember(self, nonce: str, issued: float, count: int, now: float) -> None:
        self._seen[nonce] = (issued, count)
        self._seen.move_to_end(nonce)
        # Forget nonces that can no longer be used; cap the table in any case.
        while self._seen:
            first, (first_issued, _) = next(iter(self._seen.items()))
            if now - first_issued > self.nonce_lifetime or len(self._seen) > self._max_tracked:
                self._seen.popitem(last=False)
            else:
                break
