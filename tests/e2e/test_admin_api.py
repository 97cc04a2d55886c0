"""The admin API served by a running switch: a token made by the command line works at once,
an extension granted through the API registers with SIPp, and an account token is confined."""

from __future__ import annotations

import re

import httpx

from ..smtp import smtp_server
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


def test_changes_to_a_running_switch_are_mailed_to_whom_they_name(make_switch: object) -> None:
    from softswitch.api.auth import digest

    with smtp_server() as (inbox, smtp_port):
        port = free_port()
        sw: Switch = make_switch(  # type: ignore[operator]
            api={"address": "127.0.0.1", "port": port, "tokens": [{"name": "hr-desk", "sha256": digest("ss_hr")}]},
            notify={"smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "softswitch@acme.example"}})
        hr = {"Authorization": "Bearer ss_hr"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            r = api.post("/api/accounts/acme/people", json={"id": "e100", "name": "Lan Nguyen", "email": "lan@acme.example"},
                         headers=hr)
            assert r.status_code == 201, r.text
            r = api.post("/api/accounts/acme/extensions", params={"notify": ["e100", "boss@acme.example"]},
                         json={"number": "306", "person": "e100", "alias": "lan"}, headers=hr)
            assert r.status_code == 201, r.text
        (rcpt, mail), = sw.wait_for(lambda: inbox.messages or None, what="the grant's mail")
        assert sorted(rcpt) == ["boss@acme.example", "lan@acme.example"]
        assert mail["Subject"] == "softswitch: grant extension 306 (acme)"
        body = mail.get_payload()
        assert "hr-desk (API) made 1 change:" in body and "alias: (none) -> lan" in body, body

        stopped = sw.cli("extensions", "stop", "306", "--account", "acme", "--notify", "e100", "--config", str(sw.config_path))
        assert stopped.returncode == 0 and "applied to the running switch" in stopped.stdout, stopped.stdout + stopped.stderr
        assert "notify: e-mailed lan@acme.example" in stopped.stdout, stopped.stdout
        rcpt, mail = sw.wait_for(lambda: inbox.messages[1] if len(inbox.messages) > 1 else None, what="the stop's mail")
        assert rcpt == ["lan@acme.example"] and mail["Subject"] == "softswitch: stop extension 306 (acme)"
        assert "alias: lan -> (none)" in mail.get_payload()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_parse_and_move_with_a_sipp_call(make_switch: object) -> None:
    import subprocess
    import time

    from softswitch.api.auth import digest

    port = free_port()
    token = "ss_metrics-test"
    sw: Switch = make_switch(api={"address": "127.0.0.1", "port": port,  # type: ignore[operator]
                                  "tokens": [{"name": "prometheus", "sha256": digest(token)},
                                             {"name": "acme", "sha256": digest("ss_acme"), "account": "acme"}]})
    url = f"http://127.0.0.1:{port}/metrics"
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer ss_acme"}, timeout=10).status_code == 403
    before = _samples(httpx.get(url, headers=headers, timeout=10).text)
    assert before.get(("softswitch_calls_active", (("account", "acme"),)), 0) == 0

    phone = free_port()
    register(sw, "102", "acme-102-secret", phone)
    callee = sw.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=phone, background=True, timeout=40)
    time.sleep(0.3)
    caller = sw.sipp("call_caller.xml", "-d", "2000", "-s", "102", "-au", "101", "-ap", "acme-101-secret", "-mp", str(free_port()),
                     users=[("101", "-")], domain="acme.example", timeout=40, background=True)
    assert isinstance(callee, subprocess.Popen) and isinstance(caller, subprocess.Popen)
    during = sw.wait_for(lambda: (lambda s: s if s.get(("softswitch_calls_active", (("account", "acme"),))) == 1 else None)(
        _samples(httpx.get(url, headers=headers, timeout=10).text)), what="the call in /metrics")
    assert during[("softswitch_registrations", (("account", "acme"), ("transport", "udp")))] >= 1
    for proc in (caller, callee):
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out[-2000:]
    after = sw.wait_for(lambda: (lambda s: s if s.get(("softswitch_calls_ended_total", (("disposition", "answered"),))) == 1 else None)(
        _samples(httpx.get(url, headers=headers, timeout=10).text)), what="the ended call in /metrics")

    def moved(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert moved("softswitch_sip_requests_received_total", (("method", "INVITE"),)) >= 2  # the challenge round
    assert moved("softswitch_sip_requests_received_total", (("method", "REGISTER"),)) >= 2
    assert moved("softswitch_sip_responses_sent_total", (("status", "407"),)) >= 1
    assert moved("softswitch_sip_responses_sent_total", (("status", "200"),)) >= 2
    assert moved("softswitch_relay_packets_total", (("direction", "in"),)) > 100
    assert moved("softswitch_relay_packets_total", (("direction", "out"),)) > 100
    assert after[("softswitch_relay_sessions", ())] == 0
    # One call set up: one observation, within its bucket bounds; the buckets are cumulative.
    assert moved("softswitch_call_setup_seconds_count") == 1
    assert 0 < moved("softswitch_call_setup_seconds_sum") < 10
    assert moved("softswitch_call_setup_seconds_bucket", (("le", "+Inf"),)) == 1
    assert moved("softswitch_call_setup_seconds_bucket", (("le", "0.005"),)) <= moved(
        "softswitch_call_setup_seconds_bucket", (("le", "10.0"),)) == 1
