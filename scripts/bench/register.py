"""Authenticated REGISTER/s on one core: softswitch and Kamailio, stepped rates, same run.

For each system: start it pinned to CPU 0, register every user of the pool once (warm-up),
then step the rate up; a step passes when every registration of its ``--seconds`` succeeded.
Prints one result line per system (the highest passing rate, with p50/p99 response time of
its requests) and one line with the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import Server, Step, climb, free_port, log, percentile, run_sipp, spawn, start_softswitch, still_running

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "bench" / "register_auth_timed.xml"
KAMAILIO_CFG = ROOT / "bench" / "kamailio-bench.cfg"
USERS = range(1000, 10000)
DEFAULT_RATES = [1000, 1500, 2000, 2250, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 14000, 16000]


def write_users(path: Path, password_of: Callable[[int], str]) -> Path:
    """A SIPp injection file: the user, then its [authentication] keyword."""
    path.write_text("SEQUENTIAL\n" + "".join(f"{u};[authentication username={u} password={password_of(u)}]\n" for u in USERS))
    return path


class System(Server):
    def users(self) -> Path:
        raise NotImplementedError


class Softswitch(System):
    name = "softswitch"

    def users(self) -> Path:
        return write_users(self.workdir / "users.csv", lambda u: f"bench-{u}")

    def start(self) -> None:
        self.port = free_port()
        config = {
            "server": {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": self.port}]},
            "store": {"url": f"sqlite+aiosqlite:///{self.workdir}/bench.db"},
            "security": {"trusted_networks": ["127.0.0.0/8"]},  # load, not an attack: no per-source limits
            "accounts": [{"name": "bench", "domain": "bench.example", "default": True,
                          "extensions": [{"number": str(u), "password": f"bench-{u}"} for u in USERS]}],
        }
        self.proc = start_softswitch(self.workdir, config)


class Kamailio(System):
    name = "kamailio"

    def users(self) -> Path:
        # The reference config checks one static password ("bench") for every user.
        return write_users(self.workdir / "users.csv", lambda u: "bench")

    def start(self) -> None:
        self.port = 5070  # fixed in the reference config
        self.proc = spawn(["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "1024", "-M", "16", "-A", "WITH_AUTH"],
                          self.workdir, "kamailio.log")
        still_running(self.proc, self.workdir / "kamailio.log")


def measure(system: System, rates: list[int], seconds: int) -> Step | None:
    inf = system.users()
    system.start()
    try:
        target = f"127.0.0.1:{system.port}"
        args = ["-key", "domain", "127.0.0.1", "-d", "0"]
        warm = run_sipp(SCENARIO, target, 1000, len(USERS) // 1000, system.workdir / "warmup", inf=inf, args=args)
        log(f"  {system.name} warm-up: {warm.successful}/{warm.calls} registered")
        return climb(system.name, "REGISTER/s", rates, lambda rate: run_sipp(
            SCENARIO, target, rate, seconds, system.workdir / f"step-{rate}", inf=inf, args=args))
    finally:
        system.stop()


def describe(name: str, best: Step | None, seconds: int) -> str:
    if best is None:
        return f"bench_register {name}: no rate sustained with zero failures"
    return (f"bench_register {name}: {best.rate} authenticated REGISTER/s sustained {seconds} s with 0 failures "
            f"(one core); response p50 {percentile(best.response_ms, 0.5):.2f} ms, p99 {percentile(best.response_ms, 0.99):.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", choices=["softswitch", "kamailio"])
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: dict[str, Step | None] = {}
    with tempfile.TemporaryDirectory(prefix="bench-register-") as tmp:
        for cls in (Softswitch, Kamailio):
            if args.only and cls.name != args.only:
                continue
            log(f"{cls.name}:")
            results[cls.name] = measure(cls(Path(tmp) / cls.name), rates, args.seconds)
    for name, best in results.items():
        print(describe(name, best, args.seconds))
    ours, ref = results.get("softswitch"), results.get("kamailio")
    if ours is not None and ref is not None:
        print(f"bench_register ratio softswitch/kamailio: {ours.rate / ref.rate:.2f} ({ours.rate} vs {ref.rate} REGISTER/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
