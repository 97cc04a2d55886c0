"""Overload: a provider offering many times the call rate the switch sustains, for a bounded time.

The switch (pinned to CPU 0, configured as in bench_calls: trunk, hotline, extension 200
registered from an answering SIPp) is offered ``--rate`` new calls/s for ``--seconds`` seconds
from the provider's address while a canary phone sends OPTIONS at 10/s.  Each offered call
either completes (200, held ``--hold`` ms, BYE) or is shed with ``503`` and a ``Retry-After``
(what ``overload:`` in the config is for); the rest failed (no answer, another status).

Unless ``--rate`` and ``--expect`` are both given, the rate the switch sustains is measured
first, in the same run (``--calibrate``: bench_calls' steps for the switch alone, a fresh
switch), and the flood offers ``--times`` (5) that rate: a figure from another hour of this
shared VM moves by 100-150 calls/s.

Checked and printed on one line:
  * calls completed per second over the flood (the switch must keep completing at least
    what ``bench_calls`` sustains: ``--expect``, or the calibration's figure), 503s, and
    failures, and what share of the sustained rate was completed;
  * every 503 carried a Retry-After;
  * the canary's OPTIONS p99 (must stay under 500 ms) and how many went unanswered;
  * 40 s after the flood: no call, no relay session, relay ports and SIP transactions back to
    their baseline, no exception in the log, RSS under twice the idle RSS.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from calls import HOTLINE, NO_RTP, PROVIDER_IP, Softswitch, answering_phone, measure
from common import LOAD_CPU, free_port, log, percentile, pinned, run_sipp, stop

ROOT = Path(__file__).resolve().parents[2]
SHED_CALLER = ROOT / "bench" / "call_uac_shed.xml"
CANARY = ROOT / "bench" / "options_timed.xml"
MAX_CANARY_P99_MS = 500.0
SETTLE_S = 40


def counters(system: Softswitch) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from softswitch.admin import query

    found: dict[str, Any] = query(str(system.workdir / "softswitch.sock"), "counters")
    return found


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def canary(system: Softswitch, seconds: int, workdir: Path) -> subprocess.Popen[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    count = 10 * seconds
    return subprocess.Popen(pinned(LOAD_CPU, [
        "sipp", "-sf", str(CANARY), f"127.0.0.1:{system.port}", "-i", "127.0.0.9", "-p", "0", "-t", "u1",
        "-m", str(count), "-r", "10", "-timeout", str(seconds + 30), "-nostdin", "-recv_timeout", "5000",
        "-trace_logs", "-key", "domain", "bench.example",
    ]), cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def logged(workdir: Path, tag: str) -> list[str]:
    out: list[str] = []
    for logfile in workdir.glob("*_logs.log"):
        out += [line.split()[1] for line in logfile.read_text(errors="replace").splitlines()
                if len(line.split()) == 2 and line.split()[0] == tag]
    return out


def keep(workdir: Path, where: str | None) -> None:
    """The switch's log and the SIPp runs, for a look afterwards (``--keep DIR``)."""
    if where:
        shutil.copytree(workdir, where, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock"))


def calibrate(rates: list[int]) -> int | None:
    """The call rate the switch sustains now (bench_calls' steps, 10 s each, a switch of its own)."""
    with tempfile.TemporaryDirectory(prefix="bench-overload-calibrate-") as tmp:
        log("calibration (bench_calls' steps, the switch alone):")
        best = measure(Softswitch(Path(tmp) / "softswitch", free_port()), rates, 10)
    if best is None:
        return None
    top = " (it passed every step: the figure is a lower bound)" if best.rate == rates[-1] else ""
    print(f"bench_overload calibration: bench_calls sustained {best.rate} calls/s in this run{top}")
    return best.rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, help="calls/s offered (default: --times the calibrated rate)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--hold", type=int, default=1000, help="ms each completed call is held")
    parser.add_argument("--expect", type=int, help="calls/s the switch must keep completing (default: the calibrated rate)")
    parser.add_argument("--times", type=int, default=5, help="the flood, as a multiple of the calibrated rate")
    parser.add_argument("--calibrate", default="300,400,500,600,700,800",
                        help="bench_calls' steps (calls/s, 10 s each) that measure the sustained rate first")
    parser.add_argument("--keep", metavar="DIR", help="copy the switch's log and the SIPp runs there")
    args = parser.parse_args()
    if args.rate is None or args.expect is None:
        sustained = calibrate([int(r) for r in args.calibrate.split(",")])
        if sustained is None:
            print("bench_overload softswitch: calibration failed: no bench_calls step passed: FAIL")
            return 1
        args.expect = args.expect or sustained
        args.rate = args.rate or args.times * sustained
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        system = Softswitch(Path(tmp) / "softswitch", free_port())
        phone = watcher = None
        try:
            system.start()
            assert system.proc is not None
            phone = answering_phone(system.workdir / "phone", system.phone_port, args.seconds + SETTLE_S + 120)
            time.sleep(1.0)
            warm = run_sipp(SHED_CALLER, f"127.0.0.1:{system.port}", 50, 2, system.workdir / "warmup",
                            args=["-s", HOTLINE, "-d", "0", *NO_RTP], local_ip=PROVIDER_IP)
            log(f"warm-up: {warm.successful}/{warm.calls}")
            time.sleep(3)
            idle_rss, before = rss_kb(system.proc.pid), counters(system)
            watcher = canary(system, args.seconds + 10, system.workdir / "canary")
            time.sleep(2)
            flood = run_sipp(SHED_CALLER, f"127.0.0.1:{system.port}", args.rate, args.seconds, system.workdir / "flood",
                             args=["-s", HOTLINE, "-d", str(args.hold), *NO_RTP], local_ip=PROVIDER_IP, tags=("S1",))
            peak_rss = rss_kb(system.proc.pid)
            watcher.communicate(timeout=args.seconds + 60)
            options_ms = [float(v) / 1000 for v in logged(system.workdir / "canary", "O1")]
            offered = 10 * (args.seconds + 10)
            time.sleep(SETTLE_S)
            after = counters(system)
            log(f"after the flood: gc {after.get('gc')}; "
                f"sip {after.get('sip')}")
            settled_rss = rss_kb(system.proc.pid)
            log_text = (system.workdir / "softswitch.log").read_text(errors="replace")
        finally:
            system.stop()
            keep(system.workdir, args.keep)
            stop(phone)
            if watcher is not None and watcher.poll() is None:
                watcher.kill()
    shed = len(flood.response_ms)  # the 503s; the scenario fails a call whose 503 has no Retry-After
    completed = flood.successful - shed
    counted = sum(after["calls"].get(f"shed_{k}", 0) - before["calls"].get(f"shed_{k}", 0) for k in ("delay", "ports", "rate"))
    failed = flood.calls - flood.successful
    rate_done = completed / args.seconds
    media_b, media_a = before["media"], after["media"]
    ports_back = (media_a["ports_allocated"] - media_a["ports_released"]) == (media_b["ports_allocated"] - media_b["ports_released"])
    tx_back = after["sip"].get("transactions", 0) <= before["sip"].get("transactions", 0) + 2
    if not tx_back:  # what the ones left are: side, method, state
        log(f"transactions left {SETTLE_S} s after the flood: {after.get('transactions')}")
    idle = after["calls"]["active"] == 0 and media_a["sessions"] == 0
    exceptions = log_text.count("Traceback")
    p99 = percentile(options_ms, 0.99)
    ok = (rate_done >= args.expect and p99 < MAX_CANARY_P99_MS and len(options_ms) == offered and ports_back and tx_back
          and idle and exceptions == 0 and settled_rss < 2 * idle_rss and peak_rss < 2 * idle_rss)
    print(f"bench_overload softswitch: offered {args.rate} calls/s for {args.seconds} s ({flood.calls}): "
          f"{completed} completed ({rate_done:.0f}/s, {rate_done / args.expect:.2f} of the expected {args.expect}), {shed} shed with 503 "
          f"(each with Retry-After; the switch counted {counted}), "
          f"{failed} failed; canary OPTIONS {len(options_ms)}/{offered} answered, p99 {p99:.1f} ms; "
          f"{SETTLE_S} s later: calls {after['calls']['active']}, sessions {media_a['sessions']}, ports back {ports_back}, "
          f"transactions back {tx_back}; exceptions {exceptions}; RSS idle {idle_rss // 1024} MB, peak {peak_rss // 1024} MB, "
          f"after {settled_rss // 1024} MB: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
