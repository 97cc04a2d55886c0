"""Registration storm: every phone re-registers at once after an outage (issue 13).

9,000 phones of one account (SIPp, ``-inf`` of 9,000 users) start registering within 10 s
(900/s); a 503 sends a phone back after 5-20 s (``bench/register_storm.xml``).  Passes when
every phone is registered within 60 s of the storm's end and no answer took longer than 1 s
(the switch answers what it takes in time and sheds the rest early); prints one line with the
503s, the answer times and how long the last phone took.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from common import LOAD_CPU, log, percentile, pinned
from register import USERS, Softswitch

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "bench" / "register_storm.xml"
MAX_ANSWER_MS = 1000.0
WITHIN_S = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="the storm's length: every phone starts within it")
    args = parser.parse_args()
    phones = len(USERS)
    rate = max(1, phones // args.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        system = Softswitch(Path(tmp) / "softswitch")
        inf = system.users()
        system.start()
        try:
            work = system.workdir / "storm"
            work.mkdir()
            started = time.monotonic()
            proc = subprocess.run(pinned(LOAD_CPU, [
                "sipp", "-sf", str(SCENARIO), f"127.0.0.1:{system.port}", "-i", "127.0.0.1", "-p", "0", "-t", "u1",
                "-m", str(phones), "-r", str(rate), "-l", str(phones), "-inf", str(inf), "-key", "domain", "127.0.0.1",
                "-timeout", str(int(args.seconds + WITHIN_S + 30)), "-timeout_error", "-nostdin", "-recv_timeout", "10000",
                "-trace_logs", "-trace_err", "-buff_size", str(8 * 1024 * 1024),
            ]), cwd=work, capture_output=True, text=True, timeout=args.seconds + WITHIN_S + 90)
            wall = time.monotonic() - started
            tags: dict[str, list[float]] = {"A1": [], "S1": [], "OK": [], "LOST": []}
            for logfile in work.glob("*_logs.log"):
                for line in logfile.read_text(errors="replace").splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] in tags:
                        tags[parts[0]].append(float(parts[1]) / 1000.0)
            errors = "".join(f.read_text(errors="replace")[:3000] for f in work.glob("*_errors.log"))
        finally:
            system.stop()
    answers, shed, done = tags["A1"], tags["S1"], tags["OK"]
    last_s = max(done) / 1000 if done else float("nan")
    worst = max(answers) if answers else float("nan")
    ok = len(done) == phones and worst <= MAX_ANSWER_MS and wall <= args.seconds + WITHIN_S + 5
    if proc.returncode != 0:
        log(proc.stdout[-3000:])
        log(errors)
    print(f"bench_storm softswitch: {phones} phones within {args.seconds} s ({rate}/s): {len(done)} registered, "
          f"the last {last_s:.1f} s after its first REGISTER, all in {wall:.0f} s; {len(shed)} answered 503 "
          f"(sent back 5-20 s), {len(tags['LOST'])} unanswered (tried again); answers p50 {percentile(answers, 0.5):.1f} ms, p99 {percentile(answers, 0.99):.1f} ms, "
          f"max {worst:.0f} ms (limit {MAX_ANSWER_MS:.0f}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
