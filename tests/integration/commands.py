"""Running ``softswitch`` commands in-process, as the integration tests do."""

from __future__ import annotations

import pytest

from softswitch.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The exit code, standard output and standard error of one command."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err
