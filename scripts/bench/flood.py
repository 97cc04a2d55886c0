"""Floods from one address against the per-source limits (issue 13's acceptance), bounded.

The switch runs with the default ``security:`` limits (``--ban-time``, default 300 s as
shipped).  At once:
  * 127.0.0.3 sends ``--count`` OPTIONS at ``--rate``/s (10,000 at 500/s: 20 s);
  * 127.0.0.4 sends ``--count`` // 2 REGISTERs without credentials at ``--rate``/s;
  * a phone on 127.0.0.9 registers (digest, SIPp) and sends OPTIONS every 250 ms, all along.
Then both flooders send one OPTIONS a second until their bans end, and one more after.

Printed on one line: answers each flooder got (must be ≤ 90), how long each stayed silent at
1 request/s and how many of those requests were answered (must be 0, for at least the ban
time less the flood's own length), whether each is answered again after its ban, and the
phone's OPTIONS (all answered, p99 < 200 ms) and registrations; PASS or FAIL.
  scripts/bench_flood [--ban-time 300] [--count 10000] [--rate 500]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import _counter, free_port, log, percentile, start_softswitch, stop

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "e2e" / "scenarios"
PHONE, OPTIONS_FLOODER, REGISTER_FLOODER = "127.0.0.9", "127.0.0.3", "127.0.0.4"
MAX_ANSWERED = 90
MAX_PHONE_P99_MS = 200.0


def options(port: int, source: str, n: int, wait: float = 1.0) -> float | None:
    """One OPTIONS from ``source``; the seconds its 200 took, None if none came in ``wait``."""
    msg = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {source}:9;branch=z9hG4bKfl{n}x{time.monotonic_ns()};rport\r\n"
        f"From: <sip:probe@{source}>;tag=f{n}\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: flood-probe-{n}-{time.monotonic_ns()}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(wait)
        start = time.monotonic()
        s.sendto(msg, ("127.0.0.1", port))
        try:
            reply = s.recv(65535)
        except TimeoutError:
            return None
        return time.monotonic() - start if reply.startswith(b"SIP/2.0 200 ") else None


class Phone(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.latencies: list[float | None] = []
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            n += 1
            self.latencies.append(options(self.port, PHONE, n))
            self.done.wait(0.25)


def sipp(scenario: str, port: int, source: str, count: int, rate: int, workdir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario), f"127.0.0.1:{port}", "-i", source, "-p", "0", "-t", "u1",
         "-m", str(count), "-r", str(rate), "-timeout", str(count // rate + 60), "-nostdin", "-nr",
         "-key", "domain", "acme.example", *extra],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def register(port: int, workdir: Path) -> bool:
    users = workdir / "phone.csv"
    users.write_text("SEQUENTIAL\n104;[authentication username=104 password=acme-104-secret]\n")
    proc = sipp("register_auth.xml", port, PHONE, 1, 1, workdir, "-inf", str(users))
    proc.communicate(timeout=60)
    return proc.returncode == 0


def bans(workdir: Path) -> dict[str, dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from softswitch.admin import query

    return {b["source"]: b for b in query(str(workdir / "softswitch.sock"), "bans")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ban-time", type=float, default=300.0)
    parser.add_argument("--count", type=int, default=10_000, help="OPTIONS in the flood (half as many REGISTERs)")
    parser.add_argument("--rate", type=int, default=500)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        log("sipp is not installed (Debian: sip-tester)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    port = free_port()
    config = {
        "server": {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": port}]},
        "store": {"url": f"sqlite+aiosqlite:///{workdir}/bench.db"},
        "admin": {"socket": str(workdir / "softswitch.sock")},
        "security": {"ban_time": args.ban_time},
        "accounts": [{"name": "acme", "domain": "acme.example", "default": True,
                      "extensions": [{"number": "104", "password": "acme-104-secret"}]}],
    }
    proc = start_softswitch(workdir, config)
    phone = Phone(port)
    try:
        phone.start()
        registered = [register(port, workdir)]
        log(f"flooding: {args.count} OPTIONS from {OPTIONS_FLOODER} and {args.count // 2} REGISTERs from "
            f"{REGISTER_FLOODER} at {args.rate}/s each")
        started = time.monotonic()
        floods = {OPTIONS_FLOODER: sipp("options_flood.xml", port, OPTIONS_FLOODER, args.count, args.rate, workdir),
                  REGISTER_FLOODER: sipp("register_flood.xml", port, REGISTER_FLOODER, args.count // 2, args.rate, workdir)}
        registered.append(register(port, workdir))  # during the floods
        answered = {}
        for source, flood in floods.items():
            out, _ = flood.communicate(timeout=args.count // args.rate + 120)
            answered[source] = _counter(out, "Successful call")
        flood_s = time.monotonic() - started
        found = bans(workdir)
        why = {source: found[source]["why"] if source in found else "not banned" for source in floods}
        log(f"floods over after {flood_s:.1f} s: answered {answered}, bans {why}; now 1 OPTIONS/s from each until the bans end")
        silent = {source: 0.0 for source in floods}
        leaked = {source: 0 for source in floods}
        probes = {source: 0 for source in floods}
        until = max((b["until"] for b in found.values()), default=time.time())
        last = started
        while time.time() < until - 1.1:
            tick = time.monotonic()
            for source in floods:
                if source in found and time.time() < found[source]["until"] - 1.1:
                    probes[source] += 1
                    if options(port, source, probes[source], wait=0.45) is None:
                        silent[source] = time.time() - found[source]["since"]  # banned this long, and still silent
                    else:
                        leaked[source] += 1
            if tick - last >= 60:
                last = tick
                registered.append(register(port, workdir))
                log(f"  {tick - started:.0f} s: {probes} probes, {leaked} answered")
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        time.sleep(max(0.0, until - time.time()) + 1.5)
        back = {source: options(port, source, 10**6) is not None for source in floods}
        registered.append(register(port, workdir))
    finally:
        phone.done.set()
        phone.join(5)
        stop(proc)
    got = [v for v in phone.latencies if v is not None]
    missed = len(phone.latencies) - len(got)
    p50, p99 = percentile(got, 0.5) * 1000, percentile(got, 0.99) * 1000
    ok = (all(n <= MAX_ANSWERED for n in answered.values()) and all(n == 0 for n in leaked.values())
          and all(silent[s] >= args.ban_time - 1.5 for s in floods) and all(back.values())
          and missed == 0 and p99 < MAX_PHONE_P99_MS and all(registered))
    parts = [f"{s}: {answered[s]} answered of the flood (banned for {why[s]}), then silent until {silent[s]:.0f} s into "
             f"the ban (the rest of the flood, then {probes[s]} OPTIONS at 1/s: {leaked[s]} answered), "
             f"{'answered' if back[s] else 'NOT answered'} after it" for s in floods]
    print(f"bench_flood ban_time {args.ban_time:g} s: " + "; ".join(parts)
          + f"; phone {PHONE}: {len(got)}/{len(phone.latencies)} OPTIONS answered, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"registered {sum(registered)}/{len(registered)}: {'PASS' if ok else 'FAIL'}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
