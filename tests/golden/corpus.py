"""The RFC 4475 torture messages and the verdict each must get (EXPECTED.json)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent / "rfc4475"


@dataclass(frozen=True)
class Case:
    file: str
    kind: str
    verdict: str
    expected_status: tuple[int, ...]
    data: bytes


def load_cases() -> list[Case]:
    cases = []
    for entry in json.loads((CORPUS / "EXPECTED.json").read_text()):
        data = (CORPUS / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['file']} is not byte-exact"
        cases.append(Case(entry["file"], entry["kind"], entry["verdict"], tuple(entry["expected_status"]), data))
    return cases


CASES = load_cases()
