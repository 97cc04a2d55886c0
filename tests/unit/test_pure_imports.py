"""The pure cores load nothing of the outside world, checked where import-linter cannot see.

import-linter follows the import statements of the modules named in pyproject.toml's contract
"Pure cores do not touch the outside world", but not what Python runs besides: importing
``a.b.c`` first runs ``a/b/__init__.py`` (once, ``softswitch/config/__init__`` pulled the YAML
loader and pydantic into the parking lot this way).  So this imports every module of that
contract in a fresh interpreter and looks at what got loaded.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = "Pure cores do not touch the outside world"

PROBE = """
import importlib, json, sys
before = set(sys.modules)
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def contract() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: dict[str, Any] = next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == CONTRACT)
    return found


def modules(names: list[str]) -> list[str]:
    """The named modules, and every module of a named package."""
    out: list[str] = []
    for name in names:
        out.append(name)
        module = importlib.import_module(name)
        if hasattr(module, "__path__"):
            out += [m.name for m in pkgutil.walk_packages(module.__path__, name + ".")]
    return out


def test_pure_cores_load_no_forbidden_module() -> None:
    c = contract()
    names = modules(c["source_modules"])
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names)], capture_output=True, text=True,
                            cwd=ROOT, check=True, timeout=60)
    loaded = json.loads(result.stdout)
    bad = sorted({f for m in loaded for f in c["forbidden_modules"] if m == f or m.startswith(f + ".")})
    assert not bad, f"importing the pure cores loads {bad} (a package __init__ on the way imports more than its module)"
