"""The config loader: every problem in one pass, as file:line: path: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import ConfigError, load_config, load_config_text

EXAMPLE = Path(__file__).parents[2] / "config" / "example.yaml"

BAD = """\
server:
  listen:
    - {transport: udp, address: 127.0.0.1, port: 70000}
  colour: blue
accounts:
  - name: acme
    domain: acme.example
    extensions:
      - number: 0123
        password: secret-0123
      - number: 101
        password: secret-101
      - number: "1022"
        password: secret-1022
      - number: "0"
        password: secret-000
      - number: 1o3
        password: secret-1o3
        alias: "sale 01"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "bad.yaml")
    return [str(p) for p in err.value.problems]


def test_example_config_is_valid() -> None:
    cfg = load_config(EXAMPLE)
    assert [a.name for a in cfg.accounts] == ["acme", "globex"]
    assert cfg.default_account.name == "acme"
    acme = cfg.account("acme")
    assert acme is not None and [e.number for e in acme.extensions] == ["101", "102", "103", "104", "105"]
    assert cfg.registration.min_expires == 60 and cfg.keepalive.interval == 25


def test_every_problem_with_its_line() -> None:
    found = problems(BAD)
    expected = [
        "bad.yaml:3: server.listen[0].port: Input should be less than or equal to 65535",
        "bad.yaml:4: server.colour: unknown key",
        "bad.yaml:9: accounts[0].extensions[0].number: extension number '0123' must not be 0 or start with 0",
        "bad.yaml:13: accounts[0].extensions[2].number: extension '1022' has 4 digits; this account's extensions have 3",
        "bad.yaml:15: accounts[0].extensions[3].number: extension number '0' must not be 0 or start with 0",
        "bad.yaml:17: accounts[0].extensions[4].number: extension number '1o3' must be digits only",
        "bad.yaml:19: accounts[0].extensions[4].alias: alias 'sale 01' may hold only ASCII letters, digits, '_' and '-'",
    ]
    for line in expected:
        assert line in found, f"missing: {line}\nin: {found}"


def test_duplicates_and_defaults() -> None:
    text = """\
server: {listen: [{transport: udp, address: 127.0.0.1}]}
accounts:
  - {name: a, domain: a.example, default: true, extensions: [{number: "101", password: secret-1}, {number: "101", password: secret-2}]}
  - {name: a, domain: A.example, default: true}
"""
    found = problems(text)
    assert any("extension '101' is already defined" in p for p in found)
    assert any("account name 'a' is already used" in p for p in found)
    assert any("domain 'A.example' is already used" in p for p in found)
    assert any("only one account may be the default" in p for p in found)


def test_yaml_syntax_error_has_a_line() -> None:
    (found,) = problems("server:\n  listen: [\n")
    assert found.startswith("bad.yaml:") and "(yaml)" in found


def test_duplicate_keys_are_errors() -> None:
    found = problems("server: {listen: [{transport: udp, address: 127.0.0.1}]}\nserver: {}\naccounts: []\n")
    assert "bad.yaml:2: server: duplicate key" in found


def test_registration_order_rule() -> None:
    text = EXAMPLE.read_text().replace("min_expires: 60", "min_expires: 3000").replace("default_expires: 3600", "default_expires: 120")
    assert any("min_expires <= default_expires <= max_expires" in p for p in problems(text))


def test_trunk_hotline_and_routing_references_are_checked() -> None:
    text = """\
server: {listen: [{transport: udp, address: 127.0.0.1}]}
trunks:
  - {name: vnpt, host: 192.0.2.1}
  - {name: vnpt, host: 192.0.2.2, inbound_addresses: [not-an-ip]}
accounts:
  - name: acme
    domain: acme.example
    trunk: viettel
    outbound_numbers: ["02873009999"]
    hotlines:
      - {number: "02873001234", trunk: mobifone, destination: "109"}
    extensions:
      - {number: "101", password: secret-101, call_permission: galactic}
      - number: "102"
        password: secret-102
        routing: {type: designated}
  - name: globex
    domain: globex.example
    hotlines:
      - {number: "02873001234", trunk: vnpt, destination: "201"}
    extensions:
      - {number: "201", password: secret-201, routing: {type: designated, primary: "0909000001"}}
"""
    found = problems(text)
    expected = [
        "bad.yaml:4: trunks[1].name: trunk name 'vnpt' is already used",
        "bad.yaml:4: trunks[1].inbound_addresses: 'not-an-ip' is not an IP address",
        "bad.yaml:8: accounts[0].trunk: trunk 'viettel' is not defined in trunks",
        "bad.yaml:9: accounts[0].outbound_numbers[0]: '02873009999' is not one of this account's hotlines"
        " (a provider rejects caller IDs it did not issue)",
        "bad.yaml:11: accounts[0].hotlines[0].trunk: trunk 'mobifone' is not defined in trunks",
        "bad.yaml:11: accounts[0].hotlines[0].destination: '109' is not an extension or group of this account",
        "bad.yaml:13: accounts[0].extensions[0].call_permission: Input should be 'internal', 'local', 'mobile' or 'international'",
        "bad.yaml:16: accounts[0].extensions[1].routing: routing type 'designated' needs a primary number",
        "bad.yaml:20: accounts[1].hotlines[0].number: hotline '02873001234' already belongs to account 'acme'",
        "bad.yaml:22: accounts[1].extensions[0].routing: a designated number is rung through a trunk: set the account's trunk",
    ]
    for line in expected:
        assert line in found, f"missing: {line}\nin: {found}"


def test_park_settings_are_checked() -> None:
    text = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
accounts:
  - name: acme
    domain: acme.example
    park:
      code: "*810"
      on_expiry: "199"
      music: /nonexistent/music.wav
    sites:
      - name: branch
        park: {first_slot: 950, fallback: parker, music: hold-music}
    extensions:
      - {number: "101", password: secret-101}
"""
    got = problems(text)
    assert ("bad.yaml:12: accounts[0].sites[0].park.music: 'hold-music' is not a recording of this account (nor a file: "
            "write a path)") in got
    assert "bad.yaml:6: accounts[0].park: park code *810 is one of the slots *801..*899" in got
    assert "bad.yaml:9: accounts[0].park.music: music file '/nonexistent/music.wav' does not exist" in got
    assert any(p.startswith("bad.yaml:12: accounts[0].sites[0].park.fallback: the fallback is where") for p in got)
    assert "bad.yaml:12: accounts[0].sites[0].park: slots 950..899: need first_slot <= last_slot" in got
    assert "bad.yaml:8: accounts[0].park.on_expiry: '199' is not an extension or group of this account" in got


def test_group_settings_are_checked() -> None:
    text = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
accounts:
  - name: acme
    domain: acme.example
    hotlines: []
    extensions:
      - {number: "101", password: secret-101}
      - {number: "102", password: secret-102}
    groups:
      - {number: "101", members: ["102"]}
      - {number: "6000", members: ["102", "109", "102"], overflow: "700"}
      - {number: "600", members: ["101"], overflow: "601", strategy: roundrobin}
      - {number: "601", members: ["102"], overflow: "600"}
      - {number: "602", members: []}
"""
    got = problems(text)
    assert "bad.yaml:11: accounts[0].groups[0].number: group '101' is already extension '101' (extensions[0])" in got
    assert "bad.yaml:12: accounts[0].groups[1].number: group '6000' has 4 digits; this account's extensions have 3" in got
    assert "bad.yaml:12: accounts[0].groups[1].members[1]: '109' is not an extension or group of this account" not in got
    assert "bad.yaml:12: accounts[0].groups[1].members[1]: '109' is not an extension of this account" in got
    assert "bad.yaml:12: accounts[0].groups[1].members[2]: '102' is already a member" in got
    assert "bad.yaml:12: accounts[0].groups[1].overflow: '700' is not an extension or group of this account" in got
    assert "bad.yaml:13: accounts[0].groups[2].overflow: overflow goes round in a circle: 600 -> 601 -> 600" in got
    assert "bad.yaml:14: accounts[0].groups[3].overflow: overflow goes round in a circle: 601 -> 600 -> 601" in got
    assert any(p.startswith("bad.yaml:13: accounts[0].groups[2].strategy: Input should be 'ringall'") for p in got)
    assert any(p.startswith("bad.yaml:15: accounts[0].groups[4].members: List should have at least 1 item") for p in got)


def test_scenarios_menus_and_recordings_are_checked(tmp_path: Path) -> None:
    not_wav = tmp_path / "closed.mp3"
    not_wav.write_bytes(b"ID3\x03\x00 not a wave file")
    text = f"""\
server:
  listen: [{{transport: udp, address: 127.0.0.1}}]
trunks: [{{name: provider, host: 127.0.0.2}}]
accounts:
  - name: acme
    domain: acme.example
    timezone: Asia/Saigon_City
    recordings: {{welcome: {tmp_path}/missing.wav, closed: {not_wav}}}
    hotlines:
      - number: "02873001234"
        trunk: provider
        destination: "menu:night"
        scenario:
          - {{days: [mon-fri], hours: ["08:00-17:30"], destination: "menu:main"}}
          - {{days: [funday], hours: ["0800-1700", "25:00-26:00", "09:00-09:00"], dates: ["2026-02-30", "13-01"], destination: "announcement:holiday"}}
          - {{destination: "101"}}
          - {{dates: ["12-24..12-26", "2026-01-01..02-01"], destination: "fax:101"}}
    extensions:
      - {{number: "101", password: secret-101}}
    menus:
      - name: main
        prompt: sample-menu
        options: {{1: "101", 2: "109", 3: "menu:other", 4: "announcement:goodbye", A: "101", 5: "hangup"}}
        fallback: "menu:main"
        attempts: 0
      - {{name: main, prompt: welcome-back, invalid_prompt: oops}}
"""
    got = problems(text)
    expected = [
        "bad.yaml:7: accounts[0].timezone: 'Asia/Saigon_City' is not a time zone (IANA names such as Asia/Ho_Chi_Minh)",
        f"bad.yaml:8: accounts[0].recordings.welcome: file '{tmp_path}/missing.wav' does not exist",
        "bad.yaml:12: accounts[0].hotlines[0].destination: menu 'night' is not defined in this account's menus",
        "bad.yaml:15: accounts[0].hotlines[0].scenario[1].days[0]: 'funday': days are mon, tue, wed, thu, fri, sat, sun, "
        "or a range such as mon-fri",
        "bad.yaml:15: accounts[0].hotlines[0].scenario[1].hours[0]: '0800-1700': hours are written HH:MM-HH:MM, such as 08:00-17:30",
        "bad.yaml:15: accounts[0].hotlines[0].scenario[1].hours[1]: '25:00-26:00': '25:00' is not a time of day",
        "bad.yaml:15: accounts[0].hotlines[0].scenario[1].hours[2]: '09:00-09:00': the start and the end are the same time",
        "bad.yaml:15: accounts[0].hotlines[0].scenario[1].dates[0]: '2026-02-30': dates are YYYY-MM-DD, or MM-DD for every year, "
        "or a range a..b",
        "bad.yaml:15: accounts[0].hotlines[0].scenario[1].dates[1]: '13-01': dates are YYYY-MM-DD, or MM-DD for every year, or a range a..b",
        "bad.yaml:15: accounts[0].hotlines[0].scenario[1].destination: 'holiday' is not a recording of this account nor one of the switch's prompts",
        "bad.yaml:16: accounts[0].hotlines[0].scenario[2]: a rule needs days, hours or dates (what applies at all other times is the hotline's destination)",
        "bad.yaml:17: accounts[0].hotlines[0].scenario[3].dates[1]: '2026-01-01..02-01': both ends of a range need a year, or neither",
        "bad.yaml:17: accounts[0].hotlines[0].scenario[3].destination: 'fax:101' is not a destination: an extension or group number, "
        "'menu:<name>', 'external:<external group>', 'announcement:<recording>', 'voicemail:<extension>' or 'hangup'",
        "bad.yaml:23: accounts[0].menus[0].options: key 'A': a menu key is one of 0-9, * and #",
        "bad.yaml:23: accounts[0].menus[0].options.2: '109' is not an extension or group of this account",
        "bad.yaml:23: accounts[0].menus[0].options.3: menu 'other' is not defined in this account's menus",
        "bad.yaml:25: accounts[0].menus[0].attempts: Input should be greater than or equal to 1",
        "bad.yaml:26: accounts[0].menus[1].name: menu 'main' is already defined at menus[0]",
        "bad.yaml:26: accounts[0].menus[1].prompt: 'welcome-back' is not a recording of this account nor one of the switch's prompts",
        "bad.yaml:26: accounts[0].menus[1].invalid_prompt: 'oops' is not a recording of this account nor one of the switch's prompts",
    ]
    for line in expected:
        assert line in got, "\n".join(got)
    assert any(p.startswith(f"bad.yaml:8: accounts[0].recordings.closed: {not_wav}: not a sound file this switch reads "
                            "(WAV, MP3, FLAC, Ogg Vorbis)") for p in got)


def test_external_groups_are_checked() -> None:
    text = """\
server:
  listen: [{transport: udp, address: 127.0.0.1}]
trunks: [{name: provider, host: 127.0.0.2}]
accounts:
  - name: acme
    domain: acme.example
    hotlines:
      - {number: "02873001234", trunk: provider, destination: "external:mobile"}
    extensions:
      - {number: "101", password: secret-101}
    external_groups:
      - {name: mobiles, members: ["0909000001", "+84909000002", "12345", "0909000001"], sms: true, confirm_prompt: beep}
      - {name: mobiles, members: ["0909000003"], trunk: other, overflow: "external:nobody"}
  - name: globex
    domain: globex.example
    external_groups:
      - {name: sales, members: ["0909000004"]}
"""
    got = problems(text)
    expected = [
        "bad.yaml:8: accounts[0].hotlines[0].destination: external group 'mobile' is not defined in this account's external_groups",
        "bad.yaml:12: accounts[0].external_groups[0].confirm_prompt: 'beep' is not a recording of this account nor one of "
        "the switch's prompts",
        "bad.yaml:12: accounts[0].external_groups[0].members[2]: '12345' is not a number the trunk can call: it matches no "
        "numbering class (local, mobile, international)",
        "bad.yaml:12: accounts[0].external_groups[0].members[3]: '0909000001' is already a member",
        "bad.yaml:12: accounts[0].external_groups[0].sms: texting the members needs an SMS provider: set sms (a webhook) at the top",
        "bad.yaml:13: accounts[0].external_groups[1].name: external group 'mobiles' is already defined at external_groups[0]",
        "bad.yaml:13: accounts[0].external_groups[1].trunk: trunk 'other' is not defined in trunks",
        "bad.yaml:13: accounts[0].external_groups[1].overflow: external group 'nobody' is not defined in this account's "
        "external_groups",
        "bad.yaml:12: accounts[0].external_groups[0]: its members are outside numbers rung through a trunk: set its trunk or "
        "the account's",
        "bad.yaml:17: accounts[1].external_groups[0]: its members are outside numbers rung through a trunk: set its trunk or "
        "the account's",
    ]
    for line in expected:
        assert line in got, "\n".join(got)
    assert not any("+84909000002" in p for p in got)  # +84 is a mobile number written the international way


def test_recording_settings_are_read_and_checked() -> None:
    text = """\
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
accounts:
  - name: acme
    domain: acme.example
    recording: {mode: always, directory: /srv/recordings/acme, announce: may-be-recorded}
    extensions:
      - {number: "101", password: secret-101, recording: never}
      - {number: "102", password: secret-102, recording: sometimes}
    groups:
      - {number: "600", members: ["101"], recording: always}
"""
    assert problems(text) == [
        "bad.yaml:5: accounts[0].recording.announce: 'may-be-recorded' is not a recording of this account nor one of the "
        "switch's prompts",
        "bad.yaml:8: accounts[0].extensions[1].recording: Input should be 'always', 'never' or 'on_demand'",
    ]
    cfg = load_config_text(text.replace("sometimes", "always").replace("may-be-recorded", "recorded-call"), "good.yaml")
    acme = cfg.account("acme")
    assert acme is not None and acme.recording.mode == "always" and str(acme.recording.directory) == "/srv/recordings/acme"
    assert acme.recording.pause_when_parked and [e.recording for e in acme.extensions] == ["never", "always"]
    assert acme.groups[0].recording == "always" and cfg.accounts[0].hotlines == []
    assert acme.recording.announce == "recorded-call"


def test_supervision_codes_and_keys_are_read_and_checked() -> None:
    text = """\
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
accounts:
  - name: acme
    domain: acme.example
    supervision: {listen_code: "*22", whisper_code: "*222", barge_code: "9*3", whisper_key: "4", beep: true}
    extensions:
      - {number: "101", password: secret-101, supervisors: ["102"]}
      - {number: "102", password: secret-102}
"""
    assert problems(text) == ["bad.yaml:5: accounts[0].supervision.barge_code: supervision code '9*3' must be 2 to 5 keys "
                              "of 0-9, * and #, not starting with a digit"]
    fixed = text.replace('"9*3"', '"*223"')
    assert problems(fixed) == ["bad.yaml:5: accounts[0].supervision: supervision codes *22, *222, *223 must "
                               "differ, and none may begin another"]
    fixed = fixed.replace('"*22"', '"*221"')
    assert problems(fixed) == ["bad.yaml:5: accounts[0].supervision: supervision keys must differ"]
    cfg = load_config_text(fixed.replace(', whisper_key: "4"', ""), "good.yaml")
    acme = cfg.account("acme")
    assert acme is not None and acme.supervision.beep and acme.supervision.whisper_key == "5"
    assert (acme.supervision.listen_code, acme.supervision.barge_code) == ("*221", "*223")


def test_voicemail_codes_and_pins_are_checked() -> None:
    text = """\
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
accounts:
  - name: acme
    domain: acme.example
    voicemail: {listen_code: "*9", remote_code: "*98"}
    extensions:
      - {number: "101", password: secret-101, voicemail_pin: "12a4"}
"""
    got = problems(text)
    assert got[0] == "bad.yaml:5: accounts[0].voicemail: voicemail codes *9 and *98 must differ, and neither may begin the other"
    assert got[1].startswith("bad.yaml:7: accounts[0].extensions[0].voicemail_pin: String should match pattern"), got
    cfg = load_config_text(text.replace('"*9"', '"*97"').replace("12a4", "2468"), "good.yaml")
    acme = cfg.account("acme")
    assert acme is not None and acme.extensions[0].voicemail_pin == "2468" and acme.voicemail.remote_code == "*98"


def test_an_accounts_dialled_codes_cannot_be_taken_for_one_another() -> None:
    text = """\
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
accounts:
  - name: acme
    domain: acme.example
    pickup: {directed_prefix: "*8"}
    voicemail: {listen_code: "*221"}
    supervision: {listen_code: "*22", whisper_code: "*232", barge_code: "*233"}
    park: {first_slot: 90, last_slot: 99}
    extensions:
      - {number: "101", password: secret-101}
"""
    got = problems(text)
    assert got == [
        "bad.yaml:5: accounts[0].pickup.directed_prefix: dialled code *8 (pickup.directed_prefix) begins *85 (park.code): "
        "a phone dialling one would get the other",
        "bad.yaml:5: accounts[0].pickup.directed_prefix: dialled code *8 (pickup.directed_prefix) is also *8 "
        "(pickup.group_code): a phone dialling one would get the other",
        "bad.yaml:7: accounts[0].supervision.listen_code: dialled code *22 (supervision.listen_code) begins *221 "
        "(voicemail.listen_code): a phone dialling one would get the other",
    ], got
    fixed = text.replace('directed_prefix: "*8"', 'directed_prefix: "**"').replace('"*221"', '"*97"')
    assert problems(fixed.replace('"*22"', '"*231"')) == [
        "bad.yaml:6: accounts[0].voicemail.listen_code: dialled code *97 (voicemail.listen_code) is one of the park slots "
        "*90..*99"]
    assert problems(fixed.replace('"*22"', '"*231"').replace('    voicemail: {listen_code: "*97"}\n', "")) == [
        "bad.yaml:7: accounts[0].park: dialled code *97 (voicemail.listen_code) is one of the park slots *90..*99"]
    cfg = load_config_text(fixed.replace('"*22"', '"*231"').replace("first_slot: 90, last_slot: 99", "first_slot: 700"),
                           "good.yaml")
    assert cfg.account("acme") is not None


def test_devices_are_checked_a_mac_belongs_to_one_account() -> None:
    text = """\
server: {listen: [{transport: udp, address: 127.0.0.1, port: 5060}]}
provisioning: {port: 8089, allow: ["10.0.0.0/8", "not-a-net"]}
accounts:
  - name: acme
    domain: acme.example
    extensions:
      - {number: "101", password: secret-101}
    devices:
      - {mac: "00:15:65:aa:bb:cc", model: yealink, lines: ["101", "101"], password: prov-secret-1, blf: ["199"]}
      - {mac: "00156", model: polycom, lines: ["101"], password: short}
  - name: globex
    domain: globex.example
    extensions:
      - {number: "101", password: secret-101}
    devices:
      - {mac: "00-15-65-AA-BB-CC", model: fanvil, lines: ["102"], password: prov-secret-2, site: nowhere}
"""
    got = problems(text)
    assert got == [
        "bad.yaml:2: provisioning.allow: 'not-a-net' is not a network such as 192.168.1.0/24 ('not-a-net' does not "
        "appear to be an IPv4 or IPv6 network)",
        "bad.yaml:9: accounts[0].devices[0].blf[0]: extension '199' is not in this account",
        "bad.yaml:9: accounts[0].devices[0].lines[1]: extension '101' is on this device's lines already",
        "bad.yaml:10: accounts[0].devices[1].mac: '00156' is not a MAC address (12 hex digits, with or without ':' or '-')",
        "bad.yaml:10: accounts[0].devices[1].model: Input should be 'yealink', 'grandstream', 'grandstream-gxp' or 'fanvil'",
        "bad.yaml:10: accounts[0].devices[1].password: String should have at least 8 characters",
        "bad.yaml:16: accounts[1].devices[0].lines[0]: extension '102' is not in this account",
        "bad.yaml:16: accounts[1].devices[0].mac: MAC 00-15-65-AA-BB-CC is already the device at accounts[0].devices[0]",
        "bad.yaml:16: accounts[1].devices[0].site: site 'nowhere' is not defined in this account's sites",
    ], got
