"""Digest authentication (RFC 7616, RFC 8760) with time stepped by hand."""

from __future__ import annotations

import re

import pytest

from softswitch.sip.auth import DigestAuthenticator, Verdict, digest_response, parse_credentials

REALM = "acme.example"
USERS = {"101": "secret101"}
URI = "sip:acme.example"


def nonce_of(challenge: str) -> str:
    m = re.search(r'nonce="([^"]+)"', challenge)
    assert m
    return m.group(1)


def creds(nonce: str, *, user: str = "101", password: str = "secret101", alg: str = "MD5", nc: str = "00000001",
          qop: str | None = "auth", uri: str = URI, opaque: str | None = None, realm: str = REALM) -> str:
    response = digest_response(alg, user, realm, password, "REGISTER", uri, nonce, qop, nc, "c0ffee")
    text = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}", algorithm={alg}'
    if qop:
        text += f', qop={qop}, nc={nc}, cnonce="c0ffee"'
    if opaque:
        text += f', opaque="{opaque}"'
    return text


@pytest.fixture
def auth() -> DigestAuthenticator:
    return DigestAuthenticator(b"k" * 32, nonce_lifetime=300, algorithms=("SHA-256", "MD5"))


def test_challenges_prefer_sha256_then_md5(auth: DigestAuthenticator) -> None:
    values = auth.challenges(REALM, 0.0)
    assert ["algorithm=SHA-256" in values[0], "algorithm=MD5" in values[1]] == [True, True]
    assert all('qop="auth"' in v and f'realm="{REALM}"' in v and "opaque=" in v for v in values)
    assert nonce_of(values[0]) == nonce_of(values[1])


@pytest.mark.parametrize("alg", ["MD5", "SHA-256"])
def test_good_credentials(auth: DigestAuthenticator, alg: str) -> None:
    nonce = nonce_of(auth.challenges(REALM, 0.0)[0])
    result = auth.verify("REGISTER", [creds(nonce, alg=alg, opaque=auth.opaque)], REALM, USERS, 1.0)
    assert result.verdict is Verdict.OK and result.username == "101"


def test_missing_and_other_realm(auth: DigestAuthenticator) -> None:
    assert auth.verify("REGISTER", [], REALM, USERS, 0.0).verdict is Verdict.MISSING
    other = creds("x", realm="globex.example")
    assert auth.verify("REGISTER", [other], REALM, USERS, 0.0).verdict is Verdict.MISSING
    assert auth.verify("REGISTER", ["NoOneKnowsThisScheme opaque-data=here"], REALM, USERS, 0.0).verdict is Verdict.MISSING


def test_unknown_user_and_wrong_password_fail_alike(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(REALM, 0.0)[0])
    wrong = auth.verify("REGISTER", [creds(nonce, password="nope")], REALM, USERS, 1.0)
    unknown = auth.verify("REGISTER", [creds(nonce, user="999")], REALM, USERS, 1.0)
    assert wrong.verdict is unknown.verdict is Verdict.FAILED
    assert wrong.reason == unknown.reason


def test_expired_nonce_is_stale_not_failed(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(REALM, 0.0)[0])
    assert auth.verify("REGISTER", [creds(nonce)], REALM, USERS, 301.0).verdict is Verdict.STALE
    assert "stale=true" in auth.challenges(REALM, 301.0, stale=True)[0]


def test_nonce_of_another_secret_is_stale_when_password_right(auth: DigestAuthenticator) -> None:
    before_restart = DigestAuthenticator(b"z" * 32)
    nonce = nonce_of(before_restart.challenges(REALM, 0.0)[0])
    assert auth.verify("REGISTER", [creds(nonce)], REALM, USERS, 1.0).verdict is Verdict.STALE
    assert auth.verify("REGISTER", [creds(nonce, password="x")], REALM, USERS, 1.0).verdict is Verdict.FAILED


def test_nonce_count_replay_rejected(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(REALM, 0.0)[0])
    assert auth.verify("REGISTER", [creds(nonce, nc="00000001")], REALM, USERS, 1.0).verdict is Verdict.OK
    assert auth.verify("REGISTER", [creds(nonce, nc="00000001")], REALM, USERS, 2.0).verdict is Verdict.FAILED
    assert auth.verify("REGISTER", [creds(nonce, nc="00000002")], REALM, USERS, 3.0).verdict is Verdict.OK


def test_nonce_without_qop_is_single_use(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(REALM, 0.0)[0])
    assert auth.verify("REGISTER", [creds(nonce, qop=None)], REALM, USERS, 1.0).verdict is Verdict.OK
    assert auth.verify("REGISTER", [creds(nonce, qop=None)], REALM, USERS, 2.0).verdict is Verdict.FAILED


def test_opaque_must_match_and_digest_uri_is_covered(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(REALM, 0.0)[0])
    assert auth.verify("REGISTER", [creds(nonce, opaque="bad")], REALM, USERS, 1.0).verdict is Verdict.FAILED
    # SIPp signs the remote address rather than the Request-URI: accepted, it is what was signed.
    assert auth.verify("REGISTER", [creds(nonce, uri="sip:127.0.0.1:5060")], REALM, USERS, 1.0).verdict is Verdict.OK
    # ... but a response computed for another uri than the one stated fails.
    tampered = creds(nonce, uri="sip:127.0.0.1:5060", nc="00000002").replace('uri="sip:127.0.0.1:5060"', 'uri="sip:x"')
    assert auth.verify("REGISTER", [tampered], REALM, USERS, 2.0).verdict is Verdict.FAILED


def test_parse_credentials_with_commas_in_quotes() -> None:
    scheme, params = parse_credentials('Digest username="a,b", realm="r", nc=00000001, qop=auth')
    assert scheme == "Digest" and params["username"] == "a,b" and params["nc"] == "00000001"


def test_parse_credentials_quoted_pairs_and_lws() -> None:
    scheme, params = parse_credentials('Digest  USERNAME = "x\\"y" ,realm="r"')
    assert scheme == "Digest" and params == {"username": 'x"y', "realm": "r"}


@pytest.mark.parametrize("value", ['Digest username="open', "Digest =x", 'Digest a="b" c="d"', "", 'Digest realm="acme.example" response="x"'])
def test_malformed_credentials_never_authenticate(auth: DigestAuthenticator, value: str) -> None:
    # Malformed credentials test no password: they earn a challenge (MISSING) or a failure,
    # never OK.
    result = auth.verify("REGISTER", [value], REALM, USERS, 0.0)
    assert result.verdict in (Verdict.FAILED, Verdict.MISSING)


def test_client_authorization_verifies_against_our_own_authenticator() -> None:
    from softswitch.sip.auth import DigestAuthenticator, Verdict, authorization

    server = DigestAuthenticator(b"k" * 32)
    (challenge,) = server.challenges("provider.example", 100.0)
    value = authorization(challenge, "INVITE", "sip:0909789846@provider.example", "trunkuser", "trunkpass", "c0ffee")
    assert value is not None and value.startswith("Digest ") and "qop=auth" in value
    result = server.verify("INVITE", [value], "provider.example", {"trunkuser": "trunkpass"}, 101.0)
    assert result.verdict is Verdict.OK
    assert authorization('Basic realm="x"', "INVITE", "sip:x", "u", "p", "c") is None
    no_qop = authorization('Digest realm="r", nonce="n"', "REGISTER", "sip:r", "u", "p", "c")
    assert no_qop is not None and "qop" not in no_qop
