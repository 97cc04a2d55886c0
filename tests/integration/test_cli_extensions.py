"""``softswitch people|extensions|audit`` on a config file with no switch running: each edit is
written, audited in the store and reported as not applied; refusals change nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from softswitch.config import load_config
from softswitch.ops.document import read

from .commands import run

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "switch.yaml"
    text = EXAMPLE.read_text().replace("sqlite+aiosqlite:///softswitch.db", f"sqlite+aiosqlite:///{tmp_path}/s.db")
    text = text.replace("accounts:\n", f"admin:\n  socket: {tmp_path}/none.sock\n\naccounts:\n", 1)
    path.write_text(text)
    return path


def test_people_and_extensions_from_the_command_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(config), "--account", "acme"]
    code, out, _ = run(capsys, "people", "add", "e7", "--name", "Hoa Le", "--email", "hoa@acme.example", "--site", "hq", *c)
    assert code == 0 and "person-add person e7 (acme)" in out and "not applied to a running switch" in out
    code, out, _ = run(capsys, "extensions", "grant", "106", "--person", "e7", "--permission", "mobile", *c)
    assert code == 0, out
    password = re.search(r"^Password\s+(\S+)$", out, re.M)
    assert password is not None and len(password.group(1)) == 20
    ext = load_config(config).account("acme").extension("106")  # type: ignore[union-attr]
    assert ext is not None and ext.password == password.group(1) and ext.display_name == "Hoa Le"

    code, out, _ = run(capsys, "extensions", "list", *c)
    assert code == 0 and re.search(r"^106\s+e7 \(Hoa Le\)\s+-\s+mobile\s+active\s+0$", out, re.M), out
    code, out, _ = run(capsys, "people", "list", *c)
    assert re.search(r"^e7\s+Hoa Le\s+hoa@acme.example\s+-\s+hq\s+106$", out, re.M), out
    code, out, _ = run(capsys, "extensions", "show", "106", *c)
    shown = json.loads(out)
    assert shown["password"] == "(set)" and shown["person"]["email"] == "hoa@acme.example"

    code, out, _ = run(capsys, "extensions", "password", "106", *c)
    new = re.search(r"^Password\s+(\S+)$", out, re.M)
    assert code == 0 and new is not None and new.group(1) != password.group(1)
    code, out, _ = run(capsys, "extensions", "update", "106", "--alias", "hoa", "--permission", "local", *c)
    assert code == 0
    code, out, _ = run(capsys, "audit", "--json", "--config", str(config))
    audit = [json.loads(line) for line in out.splitlines()]
    assert [a["action"] for a in audit] == ["person-add", "grant", "password", "update"]
    assert audit[3]["before"]["call_permission"] == "mobile" and audit[3]["after"]["alias"] == "hoa"
    assert password.group(1) not in out and new.group(1) not in out  # passwords never reach the audit
    assert all(a["actor"].endswith("(command line)") for a in audit)


def test_refusals_change_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(config), "--account", "acme"]
    before = config.read_bytes()
    code, _, err = run(capsys, "extensions", "grant", "106", "--person", "nobody", *c)
    assert code == 1 and "refused: no person 'nobody' in account 'acme'" in err
    code, _, err = run(capsys, "extensions", "stop", "101", *c)
    assert code == 1 and "extension 101 still receives calls from: group 600 overflow, menu main key 0, menu main fallback" in err
    code, _, err = run(capsys, "extensions", "update", "102", "--alias", "bad alias!", *c)
    assert code == 1 and "would make the config invalid" in err and f"{config}:" in err and "alias 'bad alias!'" in err
    version = read(config).version
    code, _, _ = run(capsys, "extensions", "update", "104", "--alias", "help", "--if-version", version, *c)
    assert code == 0
    after_one = config.read_bytes()
    code, _, err = run(capsys, "extensions", "update", "105", "--alias", "chief", "--if-version", version, *c)
    assert code == 1 and f"changed since version {version}" in err
    assert config.read_bytes() == after_one != before
    code, out, _ = run(capsys, "audit", "--json", "--config", str(config))
    assert [json.loads(line)["action"] for line in out.splitlines()] == ["update"]


def test_stop_and_change_number(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(config), "--account", "acme"]
    code, out, err = run(capsys, "extensions", "change", "103", "113", *c)
    assert code == 0, err
    assert "now 113 in: group 600 members, pick-up group sales" in out
    assert re.search(r"^Username\s+113$", out, re.M) and re.search(r"^Password\s+\(unchanged\)$", out, re.M)
    code, out, err = run(capsys, "extensions", "stop", "104", *c)
    assert code == 0, err
    acme = load_config(config).account("acme")
    assert acme is not None and acme.extension("104") is None and acme.extension("113") is not None
    assert acme.groups[0].members == ["102", "113"]


def test_phones_added_listed_and_removed_from_the_command_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = config.read_text().replace("\naccounts:\n", "\nprovisioning: {address: 127.0.0.1, port: 8089}\n\naccounts:\n", 1)
    config.write_text(text)
    c = ["--config", str(config), "--account", "acme"]
    code, out, err = run(capsys, "phones", "add", "00:15:65:12:34:56", "--model", "yealink", "--line", "101",
                         "--blf", "102", "--label", "Reception desk", *c)
    assert code == 0, err
    assert "device-add device 001565123456 (acme)" in out
    assert re.search(r"^Provisioning URL\s+http://127\.0\.0\.1:8089/$", out, re.M), out
    assert re.search(r"^User name\s+001565123456$", out, re.M), out
    password = re.search(r"^Password\s+(\S+)$", out, re.M)
    assert password is not None and len(password[1]) == 20
    (device,) = load_config(config).account("acme").devices  # type: ignore[union-attr]
    assert (device.mac, device.model, device.lines, device.blf, device.password) == (
        "001565123456", "yealink", ["101"], ["102"], password[1])

    before = config.read_text()
    code, _, err = run(capsys, "phones", "add", "00-15-65-12-34-56", "--model", "fanvil", "--line", "101",
                       "--config", str(config), "--account", "globex")
    assert code == 1 and "MAC 001565123456 is already a device of another account" in err
    code, _, err = run(capsys, "phones", "add", "001565aabbcc", "--model", "fanvil", "--line", "199", *c)
    assert code == 1 and re.search(r"switch\.yaml:\d+: accounts\[0\]\.devices\[1\]\.lines\[0\]: extension '199' is not "
                                   r"in this account", err), err
    assert config.read_text() == before  # refusals change nothing

    code, out, _ = run(capsys, "phones", "list", "--config", str(config))
    assert re.search(r"^001565123456\s+acme\s+yealink\s+101\s+102\s+3\s+Reception desk$", out, re.M), out
    code, out, _ = run(capsys, "phones", "remove", "001565123456", *c)
    assert code == 0 and "device-remove device 001565123456 (acme)" in out
    assert load_config(config).account("acme").devices == []  # type: ignore[union-attr]
    code, out, _ = run(capsys, "audit", *c)
    assert "device-add" in out and "device-remove" in out and password[1] not in out


def test_stopping_or_renumbering_an_extension_carries_its_phones_along(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text(config.read_text().replace("\naccounts:\n", "\nprovisioning: {address: 127.0.0.1}\n\naccounts:\n", 1))
    c = ["--config", str(config), "--account", "acme"]
    assert run(capsys, "phones", "add", "001565000001", "--model", "yealink", "--line", "101", "--line", "102",
               "--blf", "105", *c)[0] == 0
    assert run(capsys, "phones", "add", "001565000002", "--model", "fanvil", "--line", "104", *c)[0] == 0
    code, out, err = run(capsys, "extensions", "change", "102", "112", *c)
    assert code == 0 and "device 001565000001 lines" in out, out + err
    code, out, err = run(capsys, "extensions", "stop", "105", *c)
    assert code == 0 and "device 001565000001 BLF keys" in out, out + err
    code, _, err = run(capsys, "extensions", "stop", "104", *c)
    assert code == 1 and "extension 104 is the only line of device 001565000002" in err, err
    first, second = load_config(config).account("acme").devices  # type: ignore[union-attr]
    assert (first.lines, first.blf, second.lines) == (["101", "112"], [], ["104"])
