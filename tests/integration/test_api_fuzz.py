"""Hypothesis against the admin API's own OpenAPI document: every operation, with path values
and JSON bodies drawn from the schema (real names mixed with junk), never answers 5xx, and the
config file stays valid whatever was accepted."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.api.app import ApiContext, build
from softswitch.api.auth import digest
from softswitch.config import Config, load_config
from softswitch.ops.extensions import Change
from softswitch.store import MemoryStore

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
TOKEN = "ss_fuzz"
NAMES = ["acme", "globex", "101", "102", "106", "600", "e1", "office", "legacy", "x", "", "0", "-1", "..", "%00", "é", "a" * 300]


def values() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(NAMES), st.text(max_size=30), st.integers(-5, 10**12), st.none(), st.booleans(),
                     st.lists(st.sampled_from(NAMES), max_size=3))


def make_app(tmp_path: Path) -> tuple[Any, Path]:
    path = tmp_path / "switch.yaml"
    shutil.copy(EXAMPLE, path)
    text = path.read_text().replace("sqlite+aiosqlite:///softswitch.db", "memory://")
    text = text.replace("\naccounts:\n", f"""
api: {{tokens: [{{name: fuzz, sha256: {digest(TOKEN)}}}]}}
plans:
  - {{name: office, permission: mobile, features: [outside]}}
  - {{name: legacy, status: legacy, permission: local}}

accounts:
""", 1).replace("    sites:\n      - name: hq\n", "    sites:\n      - name: hq\n    people:\n      - {id: e1, name: One, plans: [legacy]}\n", 1)
    path.write_text(text)
    running: dict[str, Config] = {"config": load_config(path)}

    async def apply(_change: Change) -> str:
        running["config"] = load_config(path)
        return "config reloaded"

    return build(ApiContext(path, lambda: running["config"], MemoryStore(), apply, lambda: [])), path


def operations(app: Any) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, path parameters, JSON body properties) of every operation."""
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "").rsplit("/", 1)[-1]
            props = list(schemas[ref]["properties"]) if ref in schemas else []
            out.append((method, path, params, props))
    return out


def test_no_operation_answers_5xx(tmp_path: Path) -> None:
    app, path = make_app(tmp_path)
    ops = operations(app)
    assert len(ops) >= 20
    headers = {"Authorization": f"Bearer {TOKEN}"}
    seen: dict[int, int] = {}

    @st.composite
    def requests(draw: st.DrawFn) -> tuple[str, str, Any, str | None]:
        method, template, params, props = draw(st.sampled_from(ops))
        url = template
        for name in params:
            url = url.replace("{" + name + "}", httpx.URL("/" + str(draw(st.sampled_from(NAMES)))).raw_path.decode()[1:] or "x")
        body = {p: draw(values()) for p in props if draw(st.booleans())} if props else None
        csv = draw(st.sampled_from([None, "ID,Package (Required)\ne1,office\n", "garbage", "ID,Package (Required)\n,\n"]))
        return method, url, body, csv

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(requests())
    def one(request: tuple[str, str, Any, str | None]) -> None:
        method, url, body, csv = request

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://switch") as client:
                if url.endswith("/import"):
                    return await client.request(method, url, content=csv or "", headers=headers)
                return await client.request(method, url, json=body, headers=headers)

        response = asyncio.run(send())
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (method, url, body, response.text)
        load_config(path)  # whatever was accepted left a valid file

    one()
    print("status codes seen:", dict(sorted(seen.items())))
    assert any(200 <= code < 300 for code in seen) and any(400 <= code < 500 for code in seen), seen
