from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Switch

ARTEFACTS = Path(os.environ.get("SOFTSWITCH_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artefacts"))


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Path:
    """A folder for what a test run leaves to look at (the pages' screenshots), kept after the
    run: ``test-artefacts/<test>/`` (or under $SOFTSWITCH_ARTEFACTS), emptied when the test starts."""
    folder = ARTEFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[Switch]:
    sw = Switch(tmp_path).start()
    yield sw
    sw.stop()


@pytest.fixture
def make_switch(tmp_path: Path) -> Iterator[object]:
    made: list[Switch] = []

    def make(**overrides: object) -> Switch:
        sw = Switch(tmp_path / f"sw{len(made)}")
        sw.workdir.mkdir()
        sw.overrides = dict(overrides)
        sw.start()
        made.append(sw)
        return sw

    yield make
    for sw in made:
        sw.stop()
