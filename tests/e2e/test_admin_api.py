"""The admin API served by a running switch: a token made by the command line works at once,
an extension granted through the API registers with SIPp, and an account token is confined."""

from __future__ import annotations

import re

import httpx

from .harness import Switch, free_port, register


def test_the_api_of_a_running_switch(make_switch: object) -> None:
    port = free_port()
    sw: Switch = make_switch(api={"address": "127.0.0.1", "port": port})  # type: ignore[operator]
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/api/openapi.json", timeout=10).json()["info"]["title"] == "softswitch admin API"
    assert httpx.get(f"{base}/api/accounts/acme/extensions", timeout=10).status_code == 401

    made = sw.cli("api", "token", "ops", "--config", str(sw.config_path))
    assert made.returncode == 0 and "applied to the running switch" in made.stdout, made.stdout + made.stderr
    token = re.search(r"^Token\s+(ss_\S+)$", made.stdout, re.M)
    assert token is not None
    assert token.group(1) not in sw.config_path.read_text()  # only its hash is kept
    ops = {"Authorization": f"Bearer {token.group(1)}"}
    made = sw.cli("api", "token", "globex-admin", "--account", "globex", "--config", str(sw.config_path))
    globex = {"Authorization": "Bearer " + re.findall(r"^Token\s+(ss_\S+)$", made.stdout, re.M)[0]}

    with httpx.Client(base_url=base, timeout=10) as api:
        r = api.post("/api/accounts/acme/people", json={"id": "e100", "name": "Lan Nguyen"}, headers=ops)
        assert r.status_code == 201, r.text
        r = api.post("/api/accounts/acme/extensions", json={"number": "306", "person": "e100"}, headers=ops)
        assert r.status_code == 201 and "applied" in r.json()["applied"], r.text
        password = r.json()["password"]
        register(sw, "306", password, free_port())
        (row,) = sw.wait_for(lambda: [x for x in api.get("/api/accounts/acme/registrations", headers=ops).json()
                                      if x["extension"] == "306"], what="306 registered (written behind to the store)")
        assert row["transport"] == "UDP"
        listed = {e["number"]: e for e in api.get("/api/accounts/acme/extensions", headers=ops).json()}
        assert listed["306"]["devices"] == 1 and listed["306"]["person"] == "e100"
        assert api.get("/api/accounts/acme/extensions", headers=globex).status_code == 404
        assert api.get("/api/accounts/globex/extensions", headers=globex).status_code == 200
        actions = [a["action"] for a in api.get("/api/audit", headers=ops).json()]
        assert actions == ["token-add", "token-add", "person-add", "grant"]

    revoked = sw.cli("api", "revoke", "globex-admin", "--config", str(sw.config_path))
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(f"{base}/api/accounts/globex/extensions", headers=globex, timeout=10).status_code == 401

