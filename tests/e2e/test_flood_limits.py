"""Per-source limits against the real switch (README "Configuration", issue 13 item 1): SIPp
floods from one loopback address are silenced after at most the configured number of
requests (≤ 90, Kamailio pike's bound), stay silenced for the ban time and are answered
again after it; a REGISTER flood without credentials is banned for its unanswered
challenges; a burst at the limits is fully served; a phone on another address is answered
throughout; ``softswitch bans`` lists a ban and ``--lift`` ends it."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

from .harness import Switch, admin, options

PHONE = "127.0.0.9"


def answers(log: Path, status: int) -> int:
    """Responses with ``status`` SIPp received, from its -trace_msg file."""
    if not log.exists():
        return 0
    return len(re.findall(rf"message received.*\n\s*SIP/2\.0 {status} ", log.read_text(errors="replace")))


def flood(switch: Switch, scenario: str, source: str, count: int, rate: int, tag: str,
          background: bool = False) -> tuple[subprocess.CompletedProcess[str] | subprocess.Popen[str], Path]:
    log = switch.workdir / f"{tag}-messages.log"
    result = switch.sipp(scenario, "-nr", "-trace_msg", "-message_file", str(log), local_ip=source, calls=count, rate=rate,
                         domain="acme.example", timeout=40, background=background)
    return result, log


class Prober(threading.Thread):
    """The phone on 127.0.0.9: an OPTIONS every 250 ms (40 in 10 s, under the limit of 60) until
    stopped; each one's latency."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.latencies: list[float | None] = []
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            n += 1
            start = time.monotonic()
            status = options(self.port, source=PHONE, n=n)
            self.latencies.append(time.monotonic() - start if status == 200 else None)
            self.done.wait(0.25)

    def stop(self) -> list[float | None]:
        self.done.set()
        self.join(5)
        return self.latencies


def test_an_options_flood_is_silenced_for_the_ban_time_while_a_phone_is_answered(make_switch: object) -> None:
    switch: Switch = make_switch(security={"ban_time": 5})  # type: ignore[operator]
    phone = Prober(switch.port)
    phone.start()
    result, log = flood(switch, "options_flood.xml", "127.0.0.3", 300, 500, "options")
    # The phone registers meanwhile too (its challenge answered: never counted against it).
    registered = switch.sipp("register_auth.xml", users=[("104", "acme-104-secret")], domain="acme.example", local_ip=PHONE)
    latencies = phone.stop()
    assert isinstance(result, subprocess.CompletedProcess) and isinstance(registered, subprocess.CompletedProcess)
    assert registered.returncode == 0, registered.stdout[-2000:]
    answered = answers(log, 200)
    assert 50 <= answered <= 60, answered  # other: 60 a source in 10 s; ≤ 90 is the acceptance bound
    assert switch.log().count("banning 127.0.0.3") == 1, "logged once, not per packet"
    assert re.search(r"banning 127\.0\.0\.3 for 5 s: more than 60 other requests in 10 s \(other requests 61\)", switch.log())
    assert latencies and None not in latencies, latencies  # the phone: every OPTIONS answered
    counters = admin(switch, "counters")
    assert counters["security"]["bans_other_requests"] == 1 and counters["security"]["banned"] == 1
    assert counters["sip"]["dropped_banned"] >= 300 - 61 - 10  # (SIPp's sends lost on loopback aside)
    (ban,) = admin(switch, "bans")
    assert ban["source"] == "127.0.0.3" and ban["why"] == "other requests" and ban["counts"] == {"other requests": 61}
    # Silent at 1 request/s (each probe waits 1 s) for the whole ban ...
    silent = 0
    while time.time() < ban["until"] - 1.2:
        assert options(switch.port, source="127.0.0.3", n=silent) is None
        silent += 1
    assert silent >= 3
    # ... and answered once it has ended; the end is logged once, with what was dropped.
    time.sleep(max(0.0, ban["until"] - time.time()) + 0.1)
    assert options(switch.port, source="127.0.0.3", n=99) == 200
    switch.wait_for(lambda: "ban on 127.0.0.3 (other requests) ended after 5 s" in switch.log(), 5, "the ban's end logged")
    assert admin(switch, "bans") == []


def test_a_register_flood_is_banned_for_unanswered_challenges_and_lifted_from_the_command_line(make_switch: object) -> None:
    switch: Switch = make_switch(security={"ban_time": 120, "max_unanswered_challenges": 30})  # type: ignore[operator]
    phone = Prober(switch.port)
    phone.start()
    result, log = flood(switch, "register_flood.xml", "127.0.0.4", 300, 500, "register")
    registered = switch.sipp("register_auth.xml", users=[("104", "acme-104-secret")], domain="acme.example", local_ip=PHONE)
    latencies = phone.stop()
    assert isinstance(result, subprocess.CompletedProcess) and isinstance(registered, subprocess.CompletedProcess)
    assert registered.returncode == 0, registered.stdout[-2000:]
    challenged = answers(log, 401)
    assert 25 <= challenged <= 31, challenged  # the 31st challenge is sent, then nothing
    assert latencies and None not in latencies, latencies
    assert switch.log().count("banning 127.0.0.4") == 1
    assert "banning 127.0.0.4 for 120 s: more than 30 unanswered challenges in 60 s" in switch.log()
    assert admin(switch, "counters")["security"]["bans_unanswered_challenges"] == 1
    shown = switch.cli("counters", "--config", str(switch.config_path))
    assert shown.returncode == 0 and "security.bans_unanswered_challenges 1" in shown.stdout.splitlines(), shown
    # softswitch bans shows it ...
    listing = switch.cli("bans", "--config", str(switch.config_path))
    assert listing.returncode == 0, listing.stderr
    (row,) = [line for line in listing.stdout.splitlines() if line.startswith("127.0.0.4")]
    assert "unanswered challenges" in row and "registrations" in row, listing.stdout
    assert listing.stdout.splitlines()[-1] == "1 ban"
    assert options(switch.port, source="127.0.0.4") is None
    # ... and --lift ends it: the source is answered at once.
    lifted = switch.cli("bans", "--config", str(switch.config_path), "--lift", "127.0.0.4")
    assert lifted.returncode == 0 and "lifted the ban on 127.0.0.4 (unanswered challenges" in lifted.stdout, lifted
    assert options(switch.port, source="127.0.0.4") == 200
    again = switch.cli("bans", "--config", str(switch.config_path), "--lift", "127.0.0.4")
    assert again.returncode == 1 and "127.0.0.4 is not banned" in again.stdout
    bad = switch.cli("bans", "--config", str(switch.config_path), "--lift", "not-an-address")
    assert bad.returncode == 1 and "is not an IP address" in bad.stderr
    assert "ban on 127.0.0.4 (unanswered challenges) lifted by the control socket" in switch.log()
    assert switch.cli("bans", "--config", str(switch.config_path)).stdout.splitlines()[-1] == "0 bans"


def test_bursts_at_the_limits_are_fully_served(make_switch: object) -> None:
    switch: Switch = make_switch(security={"max_unanswered_challenges": 30})  # type: ignore[operator]
    burst, log = flood(switch, "options_flood.xml", "127.0.0.5", 60, 500, "options-burst")
    challenges, challenge_log = flood(switch, "register_flood.xml", "127.0.0.6", 30, 500, "register-burst")
    assert isinstance(burst, subprocess.CompletedProcess) and isinstance(challenges, subprocess.CompletedProcess)
    assert burst.returncode == 0 and answers(log, 200) == 60, burst.stdout[-2000:]
    assert challenges.returncode == 0 and answers(challenge_log, 401) == 30, challenges.stdout[-2000:]
    assert admin(switch, "bans") == [] and "banning" not in switch.log()
