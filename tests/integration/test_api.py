"""The admin API's resources (httpx against the ASGI app, a real config file and SQLite store):
tokens, account isolation per resource, ETag/If-Match, JSON errors, the CSV import and export."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from softswitch.api.app import ApiContext, build
from softswitch.api.auth import digest
from softswitch.config import Config, load_config
from softswitch.ops.extensions import Change
from softswitch.store import Store, open_store

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
OPERATOR, ACME, GLOBEX = "ss_operator-token", "ss_acme-token", "ss_globex-token"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path, list[str], Store]]:
    path = tmp_path / "switch.yaml"
    shutil.copy(EXAMPLE, path)
    text = path.read_text().replace("sqlite+aiosqlite:///softswitch.db", f"sqlite+aiosqlite:///{tmp_path}/s.db")
    text = text.replace("\naccounts:\n", f"""
api:
  tokens:
    - {{name: ops, sha256: {digest(OPERATOR)}}}
    - {{name: acme-admin, sha256: {digest(ACME)}, account: acme}}
    - {{name: globex-admin, sha256: {digest(GLOBEX)}, account: globex}}
plans:
  - {{name: office, permission: mobile, features: [outside, park]}}

accounts:
""", 1)
    path.write_text(text)
    store: Store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    applied: list[str] = []
    running: dict[str, Config] = {"config": load_config(path)}

    async def apply(change: Change) -> str:  # what the switch does: take the file as it is now
        running["config"] = load_config(path)
        applied.append(change.action)
        return "config reloaded"

    trunks = [{"trunk": "provider", "host": "127.0.0.1:5070", "transport": "udp", "state": "registered"}]
    app = build(ApiContext(path, lambda: running["config"], store, apply, lambda: [], trunks=lambda: trunks))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://switch") as c:
        yield c, path, applied, store
    await store.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_or_a_wrong_one_is_401(client: Any) -> None:
    c, *_ = client
    for headers in ({}, auth("ss_wrong"), {"Authorization": "Basic b3BzOnB3"}):
        r = await c.get("/api/accounts/acme/extensions", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert (await c.get("/api/openapi.json")).json()["info"]["title"] == "softswitch admin API"


async def test_grant_change_stop_and_audit_through_the_api(client: Any) -> None:
    c, path, applied, _ = client
    h = auth(ACME)
    r = await c.post("/api/accounts/acme/people", json={"id": "e100", "name": "Lan Nguyen", "email": "lan@acme.example"}, headers=h)
    assert r.status_code == 201, r.text
    etag = r.headers["etag"]
    r = await c.post("/api/accounts/acme/extensions", json={"number": "106", "person": "e100", "alias": "lan"},
                     headers={**h, "If-Match": etag})
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["password"]) == 20 and body["changes"][0]["after"]["password"] == "(set)"
    assert load_config(path).account("acme").extension("106").password == body["password"]  # type: ignore[union-attr]
    r = await c.post("/api/accounts/acme/extensions/106/change", json={"number": "156"}, headers={**h, "If-Match": etag})
    assert r.status_code == 409 and "changed since version" in r.json()["error"]  # the grant moved the file on
    r = await c.post("/api/accounts/acme/extensions/106/change", json={"number": "156"}, headers=h)
    assert r.status_code == 200 and r.json()["changes"][0]["subject"] == "extension 106 -> 156"
    r = await c.get("/api/accounts/acme/extensions/156/login-info", headers=h)
    assert r.json()["Username"] == "156" and r.json()["Password"] == body["password"]
    r = await c.post("/api/accounts/acme/extensions/156/stop", headers=h)
    assert r.status_code == 200 and applied == ["person-add", "grant", "change-number", "stop"]
    audit = (await c.get("/api/audit", headers=h)).json()
    assert [a["action"] for a in audit] == applied and {a["actor"] for a in audit} == {"acme-admin (API, account acme)"}


async def test_errors_are_json_and_change_nothing(client: Any) -> None:
    c, path, *_ = client
    h = auth(OPERATOR)
    before = path.read_bytes()
    r = await c.patch("/api/accounts/acme/extensions/102", json={"alias": "bad alias!"}, headers=h)
    assert r.status_code == 422 and any(p.startswith(f"{path}:") and "alias 'bad alias!'" in p for p in r.json()["problems"])
    r = await c.post("/api/accounts/acme/extensions/101/stop", headers=h)
    assert r.status_code == 409 and "still receives calls from" in r.json()["error"]
    r = await c.get("/api/accounts/acme/extensions/999", headers=h)
    assert r.status_code == 404 and r.json() == {"error": "no extension '999' in account 'acme'"}
    r = await c.post("/api/accounts/acme/plans/import", content="ID,Package (Required)\ne9,office\n", headers=h)
    assert r.status_code == 422 and r.json()["errors"] == ["row 2, column ID: no person of account acme has ID 'e9'"]
    assert path.read_bytes() == before


async def test_plans_csv_round_trip(client: Any) -> None:
    c, *_ = client
    h = auth(OPERATOR)
    await c.post("/api/accounts/acme/people", json={"id": "e1", "name": "Lan"}, headers=h)
    r = await c.post("/api/accounts/acme/plans/import?dry_run=true", content="ID,Package (Required)\ne1,office\n", headers=h)
    assert r.status_code == 200 and r.json()["applied"] == "a dry run: nothing was written"
    r = await c.post("/api/accounts/acme/plans/import", content="ID,Package (Required)\ne1,office\n", headers=h)
    assert r.json()["changes"][0]["after"] == {"plans": ["office"]}
    exported = (await c.get("/api/accounts/acme/plans/export", headers=h)).text
    assert exported.splitlines()[1] == "e1,Lan,,,,office,Active"
    r = await c.post("/api/accounts/acme/plans/import", content=exported, headers=h)
    assert r.json()["changes"] == [] and r.json()["applied"] == "nothing to change"
    assert (await c.get("/api/plans", headers=h)).json()[0]["people"] == 1


READS = [
    "/api/accounts/{a}/people", "/api/accounts/{a}/extensions", "/api/accounts/{a}/extensions/101",
    "/api/accounts/{a}/extensions/101/login-info", "/api/accounts/{a}/plans/export", "/api/accounts/{a}/registrations",
    "/api/accounts/{a}/calls/active", "/api/accounts/{a}/calls", "/api/accounts/{a}/calls/export",
    "/api/accounts/{a}/parked", "/api/accounts/{a}/recordings", "/api/audit?account={a}",
]
WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("post", "/api/accounts/{a}/people", {"id": "x1", "name": "X"}),
    ("patch", "/api/accounts/{a}/people/x1", {"name": "Y"}),
    ("post", "/api/accounts/{a}/extensions", {"number": "109", "person": "x1"}),
    ("patch", "/api/accounts/{a}/extensions/101", {"alias": "x"}),
    ("post", "/api/accounts/{a}/extensions/101/password", {}),
    ("post", "/api/accounts/{a}/extensions/102/stop", None),
    ("post", "/api/accounts/{a}/extensions/101/change", {"number": "109"}),
    ("post", "/api/accounts/{a}/plans/office/assign", {"people": ["x1"]}),
    ("post", "/api/accounts/{a}/plans/office/remove", {"people": ["x1"]}),
    ("post", "/api/accounts/{a}/plans/import", None),
]


async def test_an_account_token_neither_sees_nor_changes_another_account(client: Any) -> None:
    c, path, *_ = client
    before = path.read_bytes()
    for url in READS:
        mine = await c.get(url.format(a="globex"), headers=auth(GLOBEX))
        assert mine.status_code == 200, (url, mine.text)
        theirs = await c.get(url.format(a="acme"), headers=auth(GLOBEX))
        assert theirs.status_code == 404 and theirs.json() == {"error": "no account named 'acme'"}, url
    for method, url, body in WRITES:
        r = await c.request(method, url.format(a="acme"), json=body, headers=auth(GLOBEX))
        assert r.status_code == 404, (url, r.text)
    r = await c.post("/api/plans/replace", json={"old": "office", "new": "office"}, headers=auth(GLOBEX))
    assert r.status_code == 403
    assert path.read_bytes() == before
    audit = (await c.get("/api/audit", headers=auth(GLOBEX))).json()
    assert audit == []


async def test_recordings_listed_and_served_with_ranges_to_their_account_only(client: Any, tmp_path: Path) -> None:
    import base64
    import hashlib

    from softswitch.media.wavfile import WavWriter
    from softswitch.store.records import CallRow, LegMediaRow, RecordingRow

    c, _, _, store = client
    writer = WavWriter(tmp_path / "c7.wav")
    writer.write(bytes(range(256)) * 64)
    writer.close()
    data = (tmp_path / "c7.wav").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    media = LegMediaRow(0, 0, 0, 0.0)
    row = CallRow("c7", "acme", "101", "102", "internal", 1_700_000_000.0, None, 1_700_000_001.0, 1_700_000_031.0, "answered",
                  "caller", "", "", "", "102", None, None, None, None, None, ("102",), media, media, 31.0, 30, (), None, None,
                  RecordingRow(str(tmp_path / "c7.wav"), 0.5, len(data), sha))
    await store.add_calls([row])
    (listed,) = (await c.get("/api/accounts/acme/recordings", headers=auth(ACME))).json()
    assert (listed["id"], listed["seconds"], listed["size"], listed["sha256"]) == ("c7", 0.5, len(data), sha)
    whole = await c.get("/api/accounts/acme/recordings/c7", headers=auth(ACME))
    assert whole.status_code == 200 and whole.content == data and whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    part = await c.get("/api/accounts/acme/recordings/c7", headers={**auth(ACME), "Range": "bytes=44-99"})
    assert part.status_code == 206 and part.content == data[44:100]
    assert part.headers["content-range"] == f"bytes 44-99/{len(data)}"
    assert (await c.get("/api/accounts/acme/recordings/c7", headers={**auth(ACME), "Range": f"bytes={len(data)}-"})).status_code == 416
    assert (await c.get("/api/accounts/globex/recordings/c7", headers=auth(GLOBEX))).status_code == 404  # not its call
    assert (await c.get("/api/accounts/acme/recordings/c7", headers=auth(GLOBEX))).status_code == 404  # not its account
    assert (await c.get("/api/accounts/acme/recordings/nope", headers=auth(ACME))).status_code == 404
    assert (await c.get("/api/accounts/globex/recordings", headers=auth(GLOBEX))).json() == []
    await store.recordings_deleted(["c7"], 1_800_000_000.0)  # retention
    gone = await c.get("/api/accounts/acme/recordings/c7", headers=auth(ACME))
    assert gone.status_code == 410 and "was deleted (retention)" in gone.json()["error"]
    (listed,) = (await c.get("/api/accounts/acme/recordings", headers=auth(ACME))).json()
    assert listed["deleted"] == 1_800_000_000.0


async def test_history_csv_parked_calls_and_trunks(client: Any) -> None:
    from softswitch.store.records import CallRow, LegMediaRow, ParkedRow

    c, _, _, store = client
    media = LegMediaRow(0, 0, 0, 0.0)
    row = CallRow("c1", "acme", "101", "102", "internal", 1_700_000_000.0, None, 1_700_000_001.0, 1_700_000_031.0, "answered",
                  "caller", "", "", "", "102", None, None, None, None, None, ("102",), media, media, 31.0, 30, (), None, None)
    await store.add_calls([row])
    exported = (await c.get("/api/accounts/acme/calls/export", headers=auth(ACME)))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    header, line = exported.text.splitlines()
    assert header.split(",") == CallRow.columns() and line.startswith("c1,acme,101,102,internal,")
    assert (await c.get("/api/accounts/globex/calls/export", headers=auth(GLOBEX))).text.splitlines() == [header]

    await store.claim_slot(ParkedRow("acme", 801, "c1", 1_700_000_010.0, 1_700_000_100.0, "101", "<sip:102@acme.example>"),
                           "node-a", 1_700_000_010.0)
    (parked,) = (await c.get("/api/accounts/acme/parked", headers=auth(ACME))).json()
    assert (parked["code"], parked["parker"], parked["node"], parked["call"]) == ("*801", "101", "node-a", "c1")
    assert (await c.get("/api/accounts/globex/parked", headers=auth(GLOBEX))).json() == []

    assert (await c.get("/api/trunks", headers=auth(ACME))).status_code == 403  # not an account's resource
    assert (await c.get("/api/trunks", headers=auth(OPERATOR))).json()[0]["state"] == "registered"


async def test_bans_are_the_operators_to_see_and_lift(client: Any) -> None:
    c, *_ = client
    assert (await c.get("/api/bans", headers=auth(ACME))).status_code == 403
    assert (await c.get("/api/bans", headers=auth(OPERATOR))).json() == []
    assert (await c.delete("/api/bans/127.0.0.9", headers=auth(ACME))).status_code == 403
    assert (await c.delete("/api/bans/127.0.0.9", headers=auth(OPERATOR))).status_code == 404  # this context keeps none


async def test_devices_added_listed_and_removed_through_the_api_for_their_account_only(client: Any) -> None:
    c, path, *_ = client
    made = await c.post("/api/accounts/acme/devices", headers=auth(ACME),
                        json={"mac": "00:15:65:12:34:56", "model": "grandstream", "lines": ["101"], "blf": ["102"]})
    assert made.status_code == 201, made.text
    assert made.json()["changes"][0]["action"] == "device-add" and len(made.json()["password"]) == 20
    listed = (await c.get("/api/accounts/acme/devices", headers=auth(ACME))).json()
    assert [(d["mac"], d["model"], d["lines"], d["blf"]) for d in listed] == [("001565123456", "grandstream", ["101"], ["102"])]
    assert "password" not in listed[0]
    assert (await c.get("/api/accounts/acme/devices", headers=auth(GLOBEX))).status_code == 404  # not its account
    again = await c.post("/api/accounts/globex/devices", headers=auth(GLOBEX),
                         json={"mac": "001565123456", "model": "yealink", "lines": ["101"]})
    assert again.status_code == 409 and "already a device of another account" in again.text and "acme" not in again.text
    bad = await c.post("/api/accounts/acme/devices", headers=auth(ACME),
                       json={"mac": "001565aabbcc", "model": "yealink", "lines": ["199"]})
    assert bad.status_code == 422 and "extension '199' is not in this account" in bad.text
    gone = await c.delete("/api/accounts/acme/devices/00-15-65-12-34-56", headers=auth(ACME))
    assert gone.status_code == 200 and gone.json()["changes"][0]["action"] == "device-remove"
    assert (await c.get("/api/accounts/acme/devices", headers=auth(OPERATOR))).json() == []
