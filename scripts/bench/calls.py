"""Call setup rate on one core: softswitch and sippy's B2BUA side by side, stepped rates, same run.

SIPp on 127.0.0.2 plays a provider calling a hotline; the switch (pinned to CPU 0) answers it as
a B2BUA: trunk recognised by source address, hotline routed to extension 200, a relay session
opened (four RTP/RTCP ports), a B leg sent to 200's registered contact (a SIPp answering phone),
and a call history row written when the call ends. Every call is held for 1 s, then BYE.
sippy's ``b2bua_simple`` (PyPI ``sippy``) runs the same scenario, with its next hop set to the
same answering SIPp; it relays signalling only (no media ports, no records).

A step passes when every call of its ``--seconds`` succeeded, set up in under 0.5 s (p99).
Prints one result line per system (the highest passing rate and the p50/p99 setup time,
INVITE sent to 200 received, of that step) and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import (
    LOAD_CPU,
    Server,
    Step,
    climb,
    free_port,
    log,
    percentile,
    run_sipp,
    spawn,
    start_softswitch,
    still_running,
    stop,
)

ROOT = Path(__file__).resolve().parents[2]
CALLER = ROOT / "bench" / "call_uac_timed.xml"
ANSWER = ROOT / "bench" / "call_uas.xml"
REGISTER = ROOT / "bench" / "register_auth_timed.xml"
PROVIDER_IP = "127.0.0.2"  # the trunk's address: calls from it are trusted as inbound
HOTLINE = "02873001234"
DEFAULT_RATES = [100, 200, 300, 400, 500, 600, 700, 800, 1000, 1200]
HOLD_MS = 1000
# Zero failures alone would pass an overloaded step whose calls all wait seconds in a queue.
MAX_SETUP_P99_MS = 500.0
NO_RTP = ["-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", "9"]  # discard: no RTP in this benchmark


class System(Server):
    def __init__(self, workdir: Path, phone_port: int) -> None:
        super().__init__(workdir)
        self.phone_port = phone_port  # where the answering SIPp listens


class Softswitch(System):
    name = "softswitch"

    def start(self) -> None:
        self.port = free_port()
        config = {
            "server": {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": self.port}]},
            "store": {"url": f"sqlite+aiosqlite:///{self.workdir}/bench.db"},
            "keepalive": {"mode": "off"},
            "security": {"trusted_networks": ["127.0.0.0/8"]},  # load, not an attack: no per-source limits
            "admin": {"socket": str(self.workdir / "softswitch.sock")},
            "trunks": [{"name": "provider", "host": PROVIDER_IP, "port": 5060}],
            "accounts": [{
                "name": "bench", "domain": "bench.example", "default": True, "trunk": "provider",
                "hotlines": [{"number": HOTLINE, "trunk": "provider", "destination": "200"}],
                "extensions": [{"number": "200", "password": "bench-200"}],
            }],
        }
        self.proc = start_softswitch(self.workdir, config)
        # Extension 200 registers with the answering SIPp's address as its contact.
        users = self.workdir / "users.csv"
        users.write_text("SEQUENTIAL\n200;[authentication username=200 password=bench-200]\n")
        step = run_sipp(REGISTER, f"127.0.0.1:{self.port}", 1, 1, self.workdir / "register", inf=users,
                        args=["-key", "domain", "bench.example", "-d", "0"], local_port=self.phone_port)
        if not step.clean:
            raise RuntimeError("softswitch: extension 200 did not register")


class Sippy(System):
    name = "sippy"

    def __init__(self, workdir: Path, phone_port: int, program: str) -> None:
        super().__init__(workdir, phone_port)
        self.program = shutil.which(program) or program

    def start(self) -> None:
        self.port = free_port()
        log_path = self.workdir / "sippy.log"
        self.proc = spawn([self.program, "-f", "-l", "127.0.0.1", "-p", str(self.port),
                           "-n", f"127.0.0.1:{self.phone_port}", "-L", str(log_path)], self.workdir, "sippy.out")
        still_running(self.proc, log_path)


def answering_phone(workdir: Path, port: int, seconds: int, rtp: list[str] = NO_RTP) -> subprocess.Popen[bytes]:
    """The called phone: one SIPp answering every call, for at most ``seconds``; ``rtp`` names
    the RTP address its answers give (``-key rtp_ip``, ``-key rtp_port``)."""
    return spawn(["sipp", "-sf", str(ANSWER), "-i", "127.0.0.1", "-p", str(port), "-t", "u1", "-nostdin",
                  "-timeout", str(seconds), "-max_recv_loops", "5000", "-trace_err", *rtp], workdir, "phone.out", LOAD_CPU)


def call_step(system: System, rate: int, seconds: int, name: str) -> Step:
    return run_sipp(CALLER, f"127.0.0.1:{system.port}", rate, seconds, system.workdir / name,
                    args=["-s", HOTLINE, "-d", str(HOLD_MS), *NO_RTP], local_ip=PROVIDER_IP, tags=("R1",))


def measure(system: System, rates: list[int], seconds: int) -> Step | None:
    budget = 120 + len(rates) * (seconds + 40)
    phone: subprocess.Popen[bytes] | None = None
    try:
        system.start()  # first: the switch's extension registers from the phone's port
        phone = answering_phone(system.workdir / "phone", system.phone_port, budget)
        time.sleep(1.0)
        warm = call_step(system, 50, 4, "warmup")
        log(f"  {system.name} warm-up: {warm.successful}/{warm.calls} calls")
        return climb(system.name, "calls/s", rates, lambda rate: call_step(system, rate, seconds, f"step-{rate}"),
                     lambda step: step.clean and percentile(step.response_ms, 0.99) <= MAX_SETUP_P99_MS)
    finally:
        system.stop()
        stop(phone)


def describe(name: str, best: Step | None, seconds: int) -> str:
    if best is None:
        return f"bench_calls {name}: no rate sustained with zero failed calls"
    return (f"bench_calls {name}: {best.rate} calls/s sustained {seconds} s with 0 failed calls, held {HOLD_MS / 1000:g} s "
            f"(one core); setup p50 {percentile(best.response_ms, 0.5):.2f} ms, p99 {percentile(best.response_ms, 0.99):.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--only", choices=["softswitch", "sippy"])
    parser.add_argument("--sippy", default="b2bua_simple", help="sippy's b2bua_simple program")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: dict[str, Step | None] = {}
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        for name in ("softswitch", "sippy"):
            if args.only and name != args.only:
                continue
            log(f"{name}:")
            workdir = Path(tmp) / name
            system = Softswitch(workdir, free_port()) if name == "softswitch" else Sippy(workdir, free_port(), args.sippy)
            results[name] = measure(system, rates, args.seconds)
    for name, best in results.items():
        print(describe(name, best, args.seconds))
    ours, ref = results.get("softswitch"), results.get("sippy")
    if ours is not None and ref is not None:
        print(f"bench_calls ratio softswitch/sippy: {ours.rate / ref.rate:.2f} ({ours.rate} vs {ref.rate} calls/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
