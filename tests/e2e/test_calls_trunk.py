"""Calls through a trunk: SIPp plays the provider (an IP-authenticated peer on 127.0.0.2)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import Switch, base_config, calls, free_port, register
from .test_calls_routing import dial, finish, nothing_leaked

PROVIDER_IP = "127.0.0.2"  # anything from 127.0.0.1 is a phone; the provider has its own address
HOTLINE = "02873001234"


def trunk_config(port: int, db: Path, provider_port: int) -> dict[str, Any]:
    cfg = base_config(port, db)
    cfg["trunks"] = [{"name": "provider", "host": PROVIDER_IP, "port": provider_port}]
    acme = cfg["accounts"][0]
    acme["trunk"] = "provider"
    acme["hotlines"] = [{"number": HOTLINE, "trunk": "provider", "destination": "102"},
                        {"number": "02873001235", "trunk": "provider", "destination": "102"}]
    exts = acme["extensions"]
    exts[0].update(call_permission="mobile", outbound_numbers=[HOTLINE])
    exts[4].update(routing={"type": "designated", "primary": "0909000001", "backup": "0909000002",
                            "primary_timeout": 2, "backup_timeout": 10})
    return cfg


@dataclass
class TrunkSetup:
    switch: Switch
    provider_port: int  # where SIPp plays the provider, on PROVIDER_IP


@pytest.fixture
def trunk_switch(tmp_path: Path) -> Iterator[TrunkSetup]:
    provider_port = free_port()
    sw = Switch(tmp_path)
    sw.config_path.write_text(yaml.safe_dump(trunk_config(sw.port, tmp_path / "switch.db", provider_port), sort_keys=False))
    sw.start()
    yield TrunkSetup(sw, provider_port)
    sw.stop()


def provider(setup: TrunkSetup, scenario: str, *args: str) -> subprocess.Popen[str]:
    proc = setup.switch.sipp(scenario, "-mp", str(free_port()), "-trace_msg", *args, local_ip=PROVIDER_IP,
                             local_port=setup.provider_port, background=True, timeout=40)
    assert isinstance(proc, subprocess.Popen)
    time.sleep(0.3)
    return proc


def provider_messages(sw: Switch, scenario: str) -> str:
    (log,) = sw.workdir.glob(f"{scenario.removesuffix('.xml')}_*_messages.log")
    return log.read_text(errors="replace")


def test_mobile_number_goes_out_through_the_trunk_with_the_extensions_caller_id(trunk_switch: TrunkSetup) -> None:
    sw = trunk_switch.switch
    far_end = provider(trunk_switch, "call_callee.xml")
    result, _ = dial(sw, "call_caller.xml", "0909789846", "-d", "1000")
    assert result.returncode == 0, result.stdout[-2500:]
    finish(far_end)
    received = provider_messages(sw, "call_callee.xml")
    assert f"INVITE sip:0909789846@{PROVIDER_IP}:" in received
    assert f"From: <sip:{HOTLINE}@{PROVIDER_IP}>;tag=" in received
    assert f"P-Asserted-Identity: <sip:{HOTLINE}@{PROVIDER_IP}>" in received
    (row,) = sw.wait_for(lambda: calls(sw), what="the call history row")
    assert (row["direction"], row["callee"], row["disposition"], row["answered_by"]) == ("outbound", "0909789846", "answered", "0909789846")
    nothing_leaked(sw)


def test_designated_number_rings_backup_after_primary_times_out(trunk_switch: TrunkSetup) -> None:
    sw = trunk_switch.switch
    far_end = provider(trunk_switch, "provider_designated.xml", "-m", "2")
    started = time.monotonic()
    result, messages = dial(sw, "call_caller.xml", "105", "-d", "1000")
    assert result.returncode == 0, result.stdout[-2500:]
    assert time.monotonic() - started >= 2.0  # the primary had its 2 s
    finish(far_end)
    received = provider_messages(sw, "provider_designated.xml")
    first, second = received.index("INVITE sip:0909000001@"), received.index("INVITE sip:0909000002@")
    assert first < received.index("CANCEL sip:0909000001@") < second
    (row,) = sw.wait_for(lambda: calls(sw), what="the call history row")
    assert (row["callee"], row["disposition"], row["answered_by"]) == ("105", "answered", "0909000002")


def test_inbound_call_to_a_hotline_rings_its_extension(trunk_switch: TrunkSetup) -> None:
    sw = trunk_switch.switch
    port = free_port()
    register(sw, "102", "acme-102-secret", port)
    phone = sw.sipp("call_callee.xml", "-mp", str(free_port()), domain="acme.example", local_port=port,
                    background=True, timeout=40)
    assert isinstance(phone, subprocess.Popen)
    time.sleep(0.3)
    result = sw.sipp("trunk_caller.xml", "-s", "+842873001234", "-d", "1000", "-mp", str(free_port()),
                     users=[("0909789846", "-")], local_ip=PROVIDER_IP, domain=PROVIDER_IP, timeout=40)
    assert result.returncode == 0, result.stdout[-2500:]
    finish(phone)
    (row,) = sw.wait_for(lambda: calls(sw), what="the call history row")
    assert (row["direction"], row["hotline"], row["caller"], row["callee"], row["disposition"]) == (
        "inbound", HOTLINE, "0909789846", "102", "answered")
    nothing_leaked(sw)


def test_trunk_registers_with_digest_refreshes_before_expiry_and_shows_status(tmp_path: Path) -> None:
    provider_port = free_port()
    sw = Switch(tmp_path)
    cfg = trunk_config(sw.port, tmp_path / "switch.db", provider_port)
    cfg["trunks"][0]["registration"] = {"username": "trunkuser", "password": "trunkpass", "domain": "provider.example", "expires": 60}
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    registrar = sw.sipp("provider_registrar.xml", "-trace_msg", local_ip=PROVIDER_IP, local_port=provider_port,
                        background=True, timeout=40)
    assert isinstance(registrar, subprocess.Popen)
    time.sleep(0.3)
    sw.start()
    try:
        def state() -> str:
            out = sw.cli("trunks", "--config", str(sw.config_path))
            assert out.returncode == 0, out.stderr
            return out.stdout

        first = sw.wait_for(lambda: (lambda s: s if " registered " in s else None)(state()), what="trunk registered")
        assert "provider" in first and "200 OK" in first
        finish(registrar)  # the second round: a refresh inside the 6 s the provider granted, answered again
        listing = state()
        (row,) = [line for line in listing.splitlines() if line.startswith("provider")]
        assert " registered " in f" {row} " and "200 OK" in row
        expires = int(next(cell for cell in row.split() if cell.endswith("s") and cell[:-1].isdigit())[:-1])
        assert 50 <= expires <= 60
        messages = provider_messages(sw, "provider_registrar.xml")
        assert messages.count("SIP/2.0 200 OK") == 2 and "SIP/2.0 403" not in messages
        assert 'Authorization: Digest username="trunkuser", realm="provider.example"' in messages
    finally:
        sw.stop()


def test_an_outbound_group_rotates_its_numbers_across_its_extensions(tmp_path: Path) -> None:
    provider_port = free_port()
    sw = Switch(tmp_path)
    cfg = trunk_config(sw.port, tmp_path / "switch.db", provider_port)
    acme = cfg["accounts"][0]
    acme["outbound_groups"] = {"sales": [HOTLINE, "02873001235"]}
    for ext in acme["extensions"][:2]:  # 101 and 102
        ext.pop("outbound_numbers", None)
        ext.update(call_permission="mobile", outbound_group="sales")
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    sw.start()
    try:
        far_end = sw.sipp("call_callee.xml", "-mp", str(free_port()), "-trace_msg", local_ip=PROVIDER_IP,
                          local_port=provider_port, background=True, timeout=60, calls=3)
        assert isinstance(far_end, subprocess.Popen)
        time.sleep(0.3)
        for caller in ("101", "102", "101"):
            result = sw.sipp("call_caller.xml", "-d", "500", "-s", "0909789846", "-au", caller, "-ap", f"acme-{caller}-secret",
                             "-mp", str(free_port()), users=[(caller, "-")], domain="acme.example", timeout=40)
            assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stdout[-2500:]
        finish(far_end)
        received = provider_messages(sw, "call_callee.xml")
        froms: dict[str, str] = {}  # by Call-ID, in order (a retransmitted INVITE counts once)
        for block in received.split("INVITE sip:0909789846@")[1:]:
            call_id = block.split("\nCall-ID: ", 1)[1].split("\n", 1)[0].strip()
            froms.setdefault(call_id, block.split("\nFrom: <sip:", 1)[1].split("@", 1)[0])
        assert list(froms.values()) == [HOTLINE, "02873001235", HOTLINE], froms
    finally:
        sw.stop()
