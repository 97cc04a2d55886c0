"""External groups (SPEC "Groups"): a hotline call rings outside numbers through the trunk, the
members see the hotline, a member must press 1 to take the call (a voicemail that answers
does not, and the caller does not hear its greeting), and each member rung gets the SPEC's text through the webhook provider (a local
HTTP server here).  The switch runs at 12:09 UTC on 19 September 2019 (libfaketime), which is
19:09 in Ho Chi Minh City: the SPEC's own example."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from .capture import Capture
from .harness import Switch, calls, free_port
from .test_calls_trunk import HOTLINE, PROVIDER_IP, trunk_config
from .test_groups_sipp import received

CALLER = "0909789846"
FIRST, SECOND = "0909000001", "0909000002"


@pytest.fixture
def webhook() -> Iterator[tuple[int, list[tuple[str, dict[str, str]]]]]:
    """A local SMS provider: every request's path and JSON body, in order."""
    got: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], got
    server.shutdown()


def test_members_see_the_hotline_must_press_1_and_are_texted(tmp_path: Path,
                                                            webhook: tuple[int, list[tuple[str, dict[str, str]]]]) -> None:
    port, texts = webhook
    provider_port = free_port()
    sw = Switch(tmp_path, clock="2019-09-19 12:09:00")
    cfg = trunk_config(sw.port, tmp_path / "switch.db", provider_port)
    cfg["sms"] = {"url": f"http://127.0.0.1:{port}/sms?to={{to}}", "body": '{"to": "{to}", "text": "{text}"}'}
    acme = cfg["accounts"][0]
    acme.update(brand="ACME", timezone="Asia/Ho_Chi_Minh")
    acme["hotlines"][0]["destination"] = "external:mobiles"
    # The second member is in the first group's overflow group: its text must come all the same.
    acme["external_groups"] = [
        {"name": "mobiles", "strategy": "linear", "members": [FIRST], "member_ring_time": 10,
         "confirm": True, "confirm_timeout": 3, "sms": True, "overflow": "external:backup"},
        {"name": "backup", "members": [SECOND], "confirm": True, "sms": True},
    ]
    sw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    sw.start()
    caller_media, mobile_media = free_port(), free_port()
    try:
        mobiles = sw.sipp("mobile_member.xml", "-m", "2", "-mp", str(mobile_media),
                          "-trace_msg", "-message_file", str(tmp_path / "mobiles.log"),
                          local_ip=PROVIDER_IP, local_port=provider_port, background=True, timeout=40)
        assert isinstance(mobiles, subprocess.Popen)
        time.sleep(0.3)
        with Capture(tmp_path / "rtp.pcap", [caller_media, mobile_media]) as cap:
            caller = sw.sipp("trunk_caller.xml", "-s", HOTLINE, "-d", "2000", "-mp", str(caller_media), users=[(CALLER, "-")],
                             local_ip=PROVIDER_IP, domain=PROVIDER_IP, timeout=40)
        assert caller.returncode == 0, caller.stdout[-2500:]
        out, _ = mobiles.communicate(timeout=60)
        assert mobiles.returncode == 0, out[-2500:]  # both INVITEs showed the hotline, in From, PAI and Diversion
        (row,) = sw.wait_for(lambda: calls(sw), what="the history row")
        sw.wait_for(lambda: len(texts) == 2, what="two texts")
    finally:
        sw.stop()
    assert (row["disposition"], row["answered_by"]) == ("answered", SECOND)
    assert row["path"] == f"hotline {HOTLINE} > external mobiles > {SECOND}"
    # The first member answered like a voicemail and pressed nothing: the switch's BYE came 3 s
    # after it answered, then the second member rang.
    log = received(tmp_path / "mobiles.log")
    invites = [t for t, what in log if what == "INVITE"]
    first_bye = next(t for t, what in log if what == "BYE")
    assert 2.7 <= first_bye - invites[0] <= 4.0 and invites[1] >= first_bye - 0.1
    # The voicemail's greeting reached the switch, but not the caller: nothing the members sent
    # before one pressed 1 was passed on (and the second member sent only the key).
    assert len(cap.sent_from(mobile_media)) >= 50
    assert cap.received_at(caller_media) == []
    assert sorted(texts) == [
        (f"/sms?to={FIRST}", {"to": FIRST, "text": f"(ACME) Ban da bi nho 1 cuoc goi tu so {CALLER} vao luc 19:09 19/09/2019. "
                                                   "Vui long kiem tra va lien he lai"}),
        (f"/sms?to={SECOND}", {"to": SECOND, "text": f"(ACME) Ban vua nhan cuoc goi tu so {CALLER}."}),
    ]
