"""What scripts/fuzz --seed 1 found (tests/golden/fuzz/, byte-exact): a non-ASCII digest
response was an internal error (500 and a traceback), an answer too large for a datagram was
lost uncounted, an ACK matching nothing was dropped uncounted, and every distinct 60 KB
Request-URI stayed in the URI cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Switch, admin, status_of, udp_exchange

GOLDEN = Path(__file__).parents[1] / "golden" / "fuzz"
DROPS = ("dropped", "stray_responses", "send_failed")


def sip(sw: Switch) -> dict[str, int]:
    counters: dict[str, int] = admin(sw, "counters")["sip"]
    return counters


@pytest.mark.parametrize("name", ["register-digest-response-non-ascii.sip", "register-emoji-in-authorization.sip"])
def test_fuzz_finding_a_non_ascii_digest_response_is_refused_not_an_internal_error(switch: Switch, name: str) -> None:
    before = sip(switch).get("internal_errors", 0)
    (reply,) = udp_exchange(switch.port, (GOLDEN / name).read_bytes())
    assert status_of(reply) in (400, 401, 403)  # today: 500, and hmac.compare_digest's TypeError in the log
    assert sip(switch).get("internal_errors", 0) == before
    assert "Traceback" not in switch.log()


@pytest.mark.parametrize("name", ["options-64k-display-name.sip", "options-64k-call-id.sip", "options-64k-cseq.sip"])
def test_fuzz_finding_an_answer_too_large_for_a_datagram_is_sent_smaller_or_counted(switch: Switch, name: str) -> None:
    before = sip(switch)
    replies = udp_exchange(switch.port, (GOLDEN / name).read_bytes(), wait=1.0)
    after = sip(switch)
    moved = [k for k in after if after[k] != before.get(k, 0) and k.startswith(DROPS)]
    assert replies or moved, f"no answer (it would not fit a datagram: EMSGSIZE) and nothing counted: {after}"


def test_fuzz_finding_an_ack_matching_nothing_is_counted_when_dropped(switch: Switch) -> None:
    before = admin(switch, "counters")["calls"]["stray_acks"]
    assert udp_exchange(switch.port, (GOLDEN / "ack-matching-nothing.sip").read_bytes(), wait=0.5) == []
    assert switch.wait_for(lambda: admin(switch, "counters")["calls"]["stray_acks"] == before + 1, what="the stray ACK counted")


def _rss_kb(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def test_fuzz_finding_distinct_large_request_uris_do_not_stay_in_memory(switch: Switch) -> None:
    assert switch.proc is not None
    template = (GOLDEN / "options-60k-request-uri.sip").read_bytes()
    before = _rss_kb(switch.proc.pid)
    for i in range(500):
        data = template.replace(b"000000a", b"%06da" % i).replace(b"uc0", b"uc%d" % i)
        (reply,) = udp_exchange(switch.port, data)
        assert status_of(reply) == 200
    grown_mb = (_rss_kb(switch.proc.pid) - before) / 1024
    assert grown_mb < 20, f"RSS grew {grown_mb:.0f} MB for 500 OPTIONS (sip/uri.py's cache keeps every URI)"
