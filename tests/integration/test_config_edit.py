"""Editing the operator's file (ops/document.py): comments and layout kept, invalid results
refused with file:line and nothing written, a stale version refused, concurrent edits kept."""

from __future__ import annotations

import difflib
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from softswitch.config import Config, ConfigError, load_config
from softswitch.ops import document
from softswitch.ops import extensions as ops
from softswitch.ops.tree import account

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "switch.yaml"
    shutil.copy(EXAMPLE, path)
    return path


def _add_people(tree: Any, _config: Config) -> None:
    ops.add_person(tree, "acme", "e100", {"name": "Lan Nguyen", "email": "lan@acme.example"})


def test_an_edit_changes_only_its_own_lines(config_file: Path) -> None:
    before = config_file.read_text()
    document.edit(config_file, _add_people)
    document.edit(config_file, lambda tree, _c: ops.grant(tree, "acme", "106", "e100", {"alias": "sale03"}, "Pw-1234567890abcdefgh", True))
    document.edit(config_file, lambda tree, _c: ops.change_number(tree, "acme", "102", "107"))
    after = config_file.read_text()
    diff = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert diff == [
        '-      sales: ["102", "103"]',
        '+      sales: ["107", "103"]',
        '-      - {number: "600", name: sales, strategy: rrmemory, members: ["102", "103"], member_ring_time: 15, '
        'ring_time: 60, overflow: "101"}',
        '+      - {number: "600", name: sales, strategy: rrmemory, members: ["107", "103"], member_ring_time: 15, '
        'ring_time: 60, overflow: "101"}',
        '+    people:',
        '+      - id: e100',
        '+        name: Lan Nguyen',
        '+        email: lan@acme.example',
        '-      - {number: "102", password: "acme-102-secret", alias: sale01, display_name: Sales 1, site: hq}',
        '+      - {number: "107", password: "acme-102-secret", alias: sale01, display_name: Sales 1, site: hq}',
        '+      - {number: "106", password: Pw-1234567890abcdefgh, person: e100, display_name: Lan Nguyen, alias: sale03}',
    ], "\n".join(diff)
    config = load_config(config_file)
    assert config.account("acme").extension("106").person == "e100"  # type: ignore[union-attr]


def test_an_edit_that_makes_the_config_invalid_is_refused_with_file_line_and_nothing_is_written(config_file: Path) -> None:
    before = config_file.read_bytes()

    def bad(tree: Any, _config: Config) -> None:
        account(tree, "acme")["extensions"][0]["number"] = "1001"  # one length per account

    with pytest.raises(ConfigError) as caught:
        document.edit(config_file, bad)
    assert any(str(p).startswith(f"{config_file}:") and "has 4 digits" in str(p) for p in caught.value.problems)
    assert config_file.read_bytes() == before
    assert not [p for p in config_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_stale_version_is_refused(config_file: Path) -> None:
    seen = document.read(config_file).version
    document.edit(config_file, _add_people, expected=seen)
    with pytest.raises(document.StaleEdit, match=f"changed since version {seen}"):
        document.edit(config_file, lambda tree, _c: ops.update(tree, "acme", "101", {"alias": "desk"}), expected=seen)
    assert load_config(config_file).account("acme").extension("101").alias == "reception"  # type: ignore[union-attr]


def test_concurrent_edits_from_threads_lose_nothing(config_file: Path) -> None:
    document.edit(config_file, _add_people)
    errors: list[BaseException] = []

    def grant(number: str) -> None:
        try:
            document.edit(config_file, lambda tree, _c: ops.grant(tree, "acme", number, "e100", {}, f"Pw-{number}-abcdefghij", True))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=grant, args=(str(n),)) for n in range(110, 130)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    acme = load_config(config_file).account("acme")
    assert acme is not None and {str(n) for n in range(110, 130)} <= {e.number for e in acme.extensions}


def test_the_file_keeps_its_mode(config_file: Path) -> None:
    config_file.chmod(0o640)
    document.edit(config_file, _add_people)
    assert config_file.stat().st_mode & 0o777 == 0o640
