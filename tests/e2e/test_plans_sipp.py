"""Calling plans on a running switch: a person left on a retired legacy plan calling a mobile
gets 403 naming the plan; `plans replace` through the command line applies at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import Switch, base_config
from .test_calls_routing import dial


@pytest.fixture
def plans_switch(tmp_path: Path) -> Any:
    sw = Switch(tmp_path)
    cfg = base_config(sw.port, tmp_path / "switch.db")
    cfg["plans"] = [
        {"name": "basic-2019", "status": "legacy", "retire_on": "2020-01-01", "permission": "mobile", "features": ["outside"]},
        {"name": "office", "permission": "mobile", "features": ["outside", "park"]},
    ]
    acme = cfg["accounts"][0]
    acme["people"] = [{"id": "e1", "name": "Lan Nguyen", "plans": ["basic-2019"]}]
    acme["extensions"][0].update(call_permission="international", person="e1")
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    sw.start()
    yield sw
    sw.stop()


def test_a_retired_plan_refuses_outside_calls_and_replacing_it_applies_at_once(plans_switch: Switch) -> None:
    sw = plans_switch
    result, messages = dial(sw, "caller_refused.xml", "0909789846")
    assert result.returncode == 0, result.stdout[-2500:]
    assert "SIP/2.0 403 Forbidden (plan basic-2019 (retired 2020-01-01) allows internal calls only)" in messages

    inactive = sw.cli("plans", "inactive", "--config", str(sw.config_path))
    assert inactive.returncode == 0 and "e1" in inactive.stdout and "basic-2019" in inactive.stdout, inactive.stdout
    replaced = sw.cli("plans", "replace", "basic-2019", "office", "--account", "acme", "--config", str(sw.config_path))
    assert replaced.returncode == 0 and "applied to the running switch" in replaced.stdout, replaced.stdout + replaced.stderr

    result, messages = dial(sw, "caller_refused.xml", "0909789846")  # allowed now: no trunk to carry it here
    assert "SIP/2.0 503 No Trunk Configured" in messages, messages[-2000:]
    result, messages = dial(sw, "caller_refused.xml", "0012025550123")
    assert "SIP/2.0 403 Forbidden (international calls are not in plan office)" in messages


def test_minutes_used_this_month_are_counted_from_the_history_at_start(tmp_path: Path) -> None:
    import asyncio
    import time

    from softswitch.store import open_store
    from softswitch.store.records import CallRow

    sw = Switch(tmp_path)
    cfg = base_config(sw.port, tmp_path / "switch.db")
    cfg["plans"] = [{"name": "office", "permission": "mobile", "features": ["outside"], "minutes": {"mobile": 1}}]
    acme = cfg["accounts"][0]
    acme["people"] = [{"id": "e1", "name": "Lan Nguyen", "plans": ["office"]}]
    acme["extensions"][0].update(call_permission="mobile", person="e1")
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    now = time.time()

    async def seed() -> None:  # a 61-second mobile call of e1 this month, in the history (started now: never last month)
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'switch.db'}")
        await store.add_calls([CallRow("old", "acme", "101", "0909000001", "outbound", now - 1, answered=now - 1,
                                       ended=now + 60, disposition="answered", billed_seconds=61, caller_person="e1")])
        await store.close()

    asyncio.run(seed())
    sw.start()
    try:
        result, messages = dial(sw, "caller_refused.xml", "0909789846")
        assert result.returncode == 0, result.stdout[-2500:]
        assert "SIP/2.0 403 Forbidden (mobile minutes of plan office used up this month (1 of 1))" in messages
    finally:
        sw.stop()
