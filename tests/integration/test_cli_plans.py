"""``softswitch plans`` on a config file: a CSV of 200 people with bad rows changes nothing and
names each problem; fixed, it assigns everyone; the export round-trips; a killed edit leaves
the file old or new, never half written."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from softswitch.cli import main
from softswitch.config import load_config

from .commands import run

PEOPLE = 200
ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path) -> Path:
    people = "".join(f"      - {{id: e{n}, name: Person {n}, email: p{n}@acme.example, plans: [basic-2019]}}\n"
                     for n in range(1, PEOPLE + 1))
    extensions = "".join(f"      - {{number: \"{1000 + n}\", password: secret-{n}-pw, person: e{n}}}\n"
                         for n in range(1, PEOPLE + 1))
    path = tmp_path / "switch.yaml"
    path.write_text(f"""\
# a switch with plans
server:
  listen: [{{transport: udp, address: 127.0.0.1, port: 5060}}]
store: {{url: "sqlite+aiosqlite:///{tmp_path}/s.db"}}
admin: {{socket: {tmp_path}/none.sock}}
plans:
  - {{name: office, permission: mobile, features: [outside, park]}}
  - {{name: world, permission: international, features: [outside, international, park]}}
  - {{name: basic-2019, status: legacy, retire_on: 2027-06-01, permission: mobile, features: [outside]}}
accounts:
  - name: acme
    domain: acme.example
    people:  # the staff
{people}    extensions:
{extensions}""")
    return path


def test_a_csv_of_200_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    c = ["--account", "acme", "--config", str(config)]
    rows = [f"e{n},Person {n},p{n}@acme.example,{1000 + n},,office" for n in range(1, PEOPLE + 1)]
    rows[10] = "e11,Person 11,p11@acme.example,1011,,gold"  # row 12
    rows[50] = ",Person 51,,,,office"  # row 52: nobody to find
    rows[150] = "e151,Person 151,,,,"  # row 152
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Name,Email,Extension,Site,Package (Required)\n" + "\n".join(rows) + "\n")
    before = config.read_bytes()
    code, out, err = run(capsys, "plans", "import", str(bad), "--dry-run", *c)
    assert code == 1 and "refused: 3 problems in the file; nothing was changed:" in err
    assert err.splitlines()[1:] == [
        "  row 12, column Package (Required): no plan named 'gold' (plans: office, world, basic-2019)",
        "  row 52, column ID: no person of account acme has ID ''",
        "  row 152, column Package (Required): required",
    ], err
    code, out, err = run(capsys, "plans", "import", str(bad), *c)
    assert code == 1 and config.read_bytes() == before

    rows[10], rows[50], rows[150] = "e11,,,,,office", ",,,1051,,office", "e151,,,,,office;world"
    good = tmp_path / "good.csv"
    good.write_text("ID,Name,Email,Extension,Site,Package (Required)\n" + "\n".join(rows) + "\n")
    code, out, _ = run(capsys, "plans", "import", str(good), "--dry-run", *c)
    assert code == 0 and "a dry run: nothing was written" in out and out.count("plan-assign person") == PEOPLE
    assert config.read_bytes() == before
    code, out, _ = run(capsys, "plans", "import", str(good), *c)
    assert code == 0 and out.count("plan-assign person") == PEOPLE
    assert "plan-assign person e151 (acme): plans basic-2019 -> basic-2019, office, world" in out
    acme = load_config(config).account("acme")
    assert acme is not None and all("office" in p.plans for p in acme.people)
    assert config.read_text().startswith("# a switch with plans\n") and "    people:  # the staff\n" in config.read_text()

    exported = tmp_path / "export.csv"
    assert run(capsys, "plans", "export", "-o", str(exported), *c)[0] == 0
    lines = exported.read_text().splitlines()
    assert lines[0] == "ID,Name,Email,Extension,Site,Package (Required),Status" and len(lines) == PEOPLE + 1
    assert lines[151] == "e151,Person 151,p151@acme.example,1151,,basic-2019;office;world,Active"
    version = config.read_bytes()
    code, out, _ = run(capsys, "plans", "import", str(exported), *c)
    assert code == 0 and "nothing to change" in out and config.read_bytes() == version
    assert run(capsys, "plans", "export", *c)[1] == exported.read_text()  # the same file again

    code, out, _ = run(capsys, "plans", "inactive", "--config", str(config))
    assert out.strip().endswith("0 inactive people (legacy plans only)")
    code, _, err = run(capsys, "plans", "remove", "office", "--person", "e1", *c)
    assert code == 0
    code, _, err = run(capsys, "plans", "remove", "basic-2019", "--person", "e1", *c)
    assert code == 1 and "person e1 has no active plan: taking legacy plan basic-2019 away" in err
    code, out, _ = run(capsys, "plans", "list", "--config", str(config))
    assert re.search(r"^basic-2019 +legacy +2027-06-01 +mobile +outside +- +200$", out, re.M), out
    assert out.rstrip().endswith("3 plans")


def test_replace_killed_mid_way_leaves_the_file_old_or_new(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    old = config.read_text()
    command = [sys.executable, "-m", "softswitch", "plans", "replace", "basic-2019", "office", "--account", "acme",
               "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, check=True)  # how long a whole edit takes here
    whole = time.monotonic() - started
    config.write_text(old)
    seen = set()
    rng = random.Random(7)
    for _ in range(12):  # killed at moments spread over a whole edit's time: before, during, after the write
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(0.6, 1.2) * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        text = config.read_text()
        load_config(config)  # whole and valid
        if text == old:
            seen.add("old")
        else:
            assert "plans: [basic-2019]" not in text and text.count("plans: [office]") == PEOPLE
            seen.add("new")
            config.write_text(old)
    assert seen, "the edit never ran"
    print("killed edits left the file:", sorted(seen))
    # The next edit clears what a killed one left behind, and works.
    assert main(["plans", "replace", "basic-2019", "office", "--account", "acme", "--config", str(config)]) == 0
    assert not list(tmp_path.glob(".switch.yaml.*.tmp"))
