from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Switch


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
