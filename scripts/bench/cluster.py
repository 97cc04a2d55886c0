"""Two nodes behind the Kamailio edge under a steady call load: a drained node loses no call, a
killed node loses only the calls it carried, and new calls go on through the other node.

scripts/cluster (its own code: scripts/lib/cluster.py) starts the edge and nodes a and b on one
PostgreSQL store.  A SIPp callee registers as 102 through the edge until its registration lands
on the node that is killed later (so the test also shows that a phone registered through a dead
node is still rung); a SIPp caller (101) calls 102 through the edge at ``--rate`` calls/s, each
held ``--hold`` s, without RTP.

  1. drain: ``softswitch drain`` on node a (its control socket) ``--at`` s into a
     ``--seconds`` s load; node a must exit by itself when its last call ended;
  2. node a is started again; kill: SIGKILL node b ``--at`` s into another load.

Each phase prints one line: calls attempted, answered, failed, and for the kill the seconds
from the kill to the last failed new call.  Bounded: every SIPp run has ``-m`` and a timeout.
  scripts/bench_cluster [--rate 20] [--seconds 20] [--hold 3] [--at 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from softswitch.admin import query  # noqa: E402  (the repo's own package, next to the scripts)

SCENARIOS = ROOT / "tests" / "e2e" / "scenarios"
CLUSTER = ROOT / "scripts" / "lib" / "cluster.py"
EDGE, NODES = "127.0.0.10", {"a": "127.0.0.11", "b": "127.0.0.12"}
PASSWORD = {"101": "acme-101-secret", "102": "acme-102-secret"}


def cluster(workdir: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(CLUSTER), *args, "--dir", str(workdir)], capture_output=True, text=True,
                          timeout=180, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return done.stdout


def sipp(workdir: Path, port: int, scenario: str, name: str, *args: str, user: str | None = None,
         local_port: int = 0, calls: int = 1, timeout: float = 60) -> subprocess.Popen[str]:
    cmd = ["sipp", "-sf", str(SCENARIOS / scenario), f"{EDGE}:{port}", "-i", "127.0.0.1", "-p", str(local_port),
           "-t", "u1", "-m", str(calls), "-nostdin", "-timeout", str(int(timeout)), "-timeout_error",
           "-key", "domain", "acme.example", "-key", "user_agent", "bench-cluster", "-d", "0", *args]
    if user is not None:
        inf = workdir / f"{name}.csv"
        inf.write_text(f"SEQUENTIAL\n{user};[authentication username={user} password={PASSWORD[user]}]\n")
        cmd += ["-inf", str(inf), "-au", user, "-ap", PASSWORD[user]]
    out = open(workdir / f"{name}.out", "w")  # noqa: SIM115 (the child keeps it)
    return subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, text=True)


def landed(workdir: Path, extension: str) -> str | None:
    stamps = []
    for node in NODES:
        log = (workdir / f"node-{node}.log").read_text(errors="replace")
        stamps += [(line[:23], node) for line in log.splitlines() if f" {extension}@acme registered " in line]
    return max(stamps)[1] if stamps else None


def register_on(workdir: Path, port: int, node: str, local_port: int) -> None:
    """Register 102 through the edge until the edge's hash put it on ``node``."""
    for attempt in range(40):
        proc = sipp(workdir, port, "register_auth.xml", f"register-{attempt}", user="102", local_port=local_port)
        if proc.wait(30) != 0:
            raise SystemExit(f"registration failed: {(workdir / f'register-{attempt}.out').read_text()[-2000:]}")
        time.sleep(0.3)
        if landed(workdir, "102") == node:
            return
    raise SystemExit(f"40 registrations, none on node {node}")


def load(workdir: Path, port: int, name: str, rate: int, seconds: int, hold: float, callee_port: int,
         act: float, action: Callable[[], None]) -> tuple[int, int, int, list[float]]:
    """Calls at ``rate`` for ``seconds``; ``action`` runs ``act`` s in. Attempted, answered, failed
    and the failures' times (seconds after the action)."""
    calls = rate * seconds
    callee = sipp(workdir, port, "proxied_callee_quiet.xml", f"{name}-callee", local_port=callee_port,
                  calls=calls, timeout=seconds + hold + 60)
    time.sleep(0.5)
    stats = workdir / f"{name}-caller.csv"
    caller = sipp(workdir, port, "proxied_caller_quiet.xml", f"{name}-caller", "-s", "102", "-r", str(rate),
                  "-l", str(rate * int(hold + 5)), "-d", str(int(hold * 1000)), "-trace_stat", "-fd", "1",
                  "-stf", str(stats), user="101", calls=calls, timeout=hold + 40)
    started = time.monotonic()
    time.sleep(act)
    action()
    acted = time.monotonic() - started
    caller.wait(seconds + hold + 120)
    callee.send_signal(signal.SIGTERM)
    callee.wait(30)
    rows = list(csv.DictReader(stats.open(), delimiter=";"))
    answered = int(rows[-1]["SuccessfulCall(C)"]) if rows else 0
    failed = int(rows[-1]["FailedCall(C)"]) if rows else 0
    failures: list[float] = []
    for row in rows:
        failures += [_elapsed(row["ElapsedTime(C)"]) - acted] * int(row["FailedCall(P)"])
    return int(rows[-1]["TotalCallCreated"]) if rows else 0, answered, failed, failures


def _elapsed(text: str) -> float:
    hours, minutes, seconds = text.split(":")[:3]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds.split(".")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--hold", type=float, default=3.0)
    parser.add_argument("--at", type=float, default=5.0, help="seconds into the load the node is drained or killed")
    parser.add_argument("--port", type=int, default=5070)
    parser.add_argument("--store", default=os.environ.get("SOFTSWITCH_CLUSTER_PG_URL"))
    parser.add_argument("--keep", help="keep logs here")
    args = parser.parse_args()
    if not args.store:
        parser.error("--store (or SOFTSWITCH_CLUSTER_PG_URL): scripts/bench_cluster sets it")
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="bench-cluster-"))
    workdir.mkdir(parents=True, exist_ok=True)
    callee_port = 25990
    try:
        cluster(workdir, "up", "--nodes", "2", "--port", str(args.port), "--probe", "1", "--store", args.store, "--fresh",
                "--trusted", "127.0.0.1/32")  # the load generator, as an office behind one address
        pids = {k: int(v) for k, v in json.loads((workdir / "pids.json").read_text()).items()}

        # 1. Drain node a under load: no call fails, node a exits by itself.
        register_on(workdir, args.port, "a", callee_port)

        carried: dict[str, int] = {}

        def drain() -> None:
            carried["a"] = len(query(str(workdir / "node-a.sock"), "calls"))
            subprocess.run([sys.executable, "-m", "softswitch", "drain", "--config", str(workdir / "node-a.yaml")],
                           cwd=workdir, capture_output=True, timeout=30, check=True)

        attempted, answered, failed, _ = load(workdir, args.port, "drain", args.rate, args.seconds, args.hold,
                                              callee_port, args.at, drain)
        deadline = time.monotonic() + 30
        while _alive(pids["node-a"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        exited = not _alive(pids["node-a"])
        print(f"bench_cluster drain: {args.rate} calls/s for {args.seconds} s ({args.hold:g} s each) through the edge, "
              f"node a drained at {args.at:g} s with {carried.get('a', 0)} calls up: {attempted} calls, {answered} answered, "
              f"{failed} failed; node a "
              f"{'exited by itself' if exited else 'still running 30 s later'}"
              f" -> {'PASS' if failed == 0 and exited and answered == attempted else 'FAIL'}", flush=True)

        # 2. Node a back; kill node b under load (the callee registered through node b).
        log = open(workdir / "node-a.log", "ab")  # noqa: SIM115
        restarted = subprocess.Popen([sys.executable, "-m", "softswitch", "serve", "--config", str(workdir / "node-a.yaml")],
                                     cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        pids["node-a"] = restarted.pid
        (workdir / "pids.json").write_text(json.dumps(pids))
        time.sleep(3)  # its first beats, and the edge's probe finds it up
        register_on(workdir, args.port, "b", callee_port)

        def kill() -> None:
            carried["b"] = len(query(str(workdir / "node-b.sock"), "calls"))
            os.kill(pids["node-b"], signal.SIGKILL)

        attempted, answered, failed, failures = load(workdir, args.port, "kill", args.rate, args.seconds, args.hold,
                                                     callee_port, args.at, kill)
        late = max(failures) if failures else 0.0
        # Only the calls node b carried may fail (their BYE goes unanswered: seen late, at the end of their hold).
        ok = failed <= carried["b"] and answered == attempted - failed and late <= args.hold + 5
        print(f"bench_cluster kill: {args.rate} calls/s for {args.seconds} s ({args.hold:g} s each) through the edge, "
              f"node b SIGKILLed at {args.at:g} s with {carried['b']} calls up: {attempted} calls, {answered} answered, "
              f"{failed} failed, the last failure seen {late:.1f} s after the kill; every call set up after the kill "
              f"went through node a, which rang the callee (registered through node b) without it registering again"
              f" -> {'PASS' if ok else 'FAIL'}", flush=True)
    finally:
        subprocess.run([sys.executable, str(CLUSTER), "down", "--dir", str(workdir)], capture_output=True, timeout=60)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    main()
