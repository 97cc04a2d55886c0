"""Authenticated REGISTER/s on one core: softswitch and Kamailio, stepped rates, same run.

For each system: start it pinned to CPU 0, register every user of the pool once (warm-up),
then step the rate up (SIPp pinned to CPU 1). A registration is REGISTER, 401, REGISTER with
digest credentials, 200. A step passes when every registration of its ``--seconds`` succeeded,
the response time of its requests (each REGISTER to its answer) stayed under ``--max-p99-ms``
at p99, and SIPp started registrations at the asked rate (within 5 %).

SIPp runs with large socket buffers (``-buff_size``: its default, 64 KB, dropped replies from
4,000/s up, and a reference then looked limited by its own speed). Whether the generator kept
up is checked at every step: its achieved rate, its watchdog (its loop late by >= 0.5 s), its
CPU (utime + stime from its rusage over its run, as a share of its core) and the datagrams its
socket dropped (/proc/net/udp). A step that failed while the generator showed one of these is
generator-bound: the system's ceiling is above it, and the result line says so.

The figure that survives a shared VM is the CPU time per registration: utime + stime of the
system's processes (/proc/<pid>/stat, the daemon and its children) over the step and 1.5 s
after it, divided by the registrations completed; SIPp's own is printed beside it.

Prints one result line per system (the highest passing rate, p50/p99 response time, CPU per
registration, and what stopped the climb) and one line with the ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from calls import failure_causes, last_row, stat, watchdog_trips
from common import (
    LOAD_CPU,
    Server,
    Step,
    _counter,
    climb,
    free_port,
    log,
    percentile,
    pinned,
    socket_inodes,
    spawn,
    start_softswitch,
    still_running,
    tree_cpu_seconds,
    udp_drops,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "bench" / "register_auth_timed.xml"
KAMAILIO_CFG = ROOT / "bench" / "kamailio-bench.cfg"
USERS = range(1000, 10000)
DEFAULT_RATES = [1000, 1500, 2000, 2250, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 14000, 16000]
# A registrar answering within a fifth of T1 (500 ms) never makes a phone retransmit; zero
# failures alone passed 1,000/s at p50 170 ms.
MAX_P99_MS = 100.0
MIN_ACHIEVED = 0.95  # SIPp started at least this share of the asked rate
SIPP_BUFFER = 8 * 1024 * 1024  # SIPp's SO_RCVBUF/SO_SNDBUF (-buff_size); the kernel caps it at net.core.rmem_max
GENERATOR_SATURATED = 0.9  # SIPp's CPU over its run, as a share of its core
DRAIN_S = 1.5  # after a step, before the system's CPU is read (late retransmissions, store writes)


def write_users(path: Path, password_of: Callable[[int], str]) -> Path:
    """A SIPp injection file: the user, then its [authentication] keyword."""
    path.write_text("SEQUENTIAL\n" + "".join(f"{u};[authentication username={u} password={password_of(u)}]\n" for u in USERS))
    return path


class System(Server):
    host = "127.0.0.1"  # where SIPp sends

    def users(self) -> Path:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU time so far of the system's processes (the daemon and its children)."""
        assert self.proc is not None
        return tree_cpu_seconds(self.proc.pid)


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


class Cluster(System):
    """Two switch nodes behind the Kamailio edge (deploy/kamailio/kamailio.cfg, started by
    scripts/cluster's code) on one PostgreSQL store; SIPp registers through the edge. Nodes and
    edge are not pinned (the machine has two cores, SIPp takes one of them); their CPU is the
    nodes' and the edge's, not PostgreSQL's."""

    name = "cluster of 2"
    host = "127.0.0.10"
    store = os.environ.get("SOFTSWITCH_CLUSTER_PG_URL", "")

    def users(self) -> Path:
        return write_users(self.workdir / "users.csv", lambda u: f"bench-{u}")

    def start(self) -> None:
        self.port = free_port()
        config = {
            "server": {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": self.port}]},
            "security": {"trusted_networks": ["127.0.0.0/8"]},  # load, not an attack: no per-source limits
            "accounts": [{"name": "bench", "domain": "bench.example", "default": True,
                          "extensions": [{"number": str(u), "password": f"bench-{u}"} for u in USERS]}],
        }
        (self.workdir / "bench.yaml").write_text(yaml.safe_dump(config))
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "lib" / "cluster.py"), "up", "--dir", str(self.workdir),
                               "--nodes", "2", "--port", str(self.port), "--config", str(self.workdir / "bench.yaml"),
                               "--store", self.store, "--fresh", "--trusted", "127.0.0.1/32"],
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"the cluster did not start: {done.stdout}{done.stderr}")
        self.pids = [int(p) for p in json.loads((self.workdir / "pids.json").read_text()).values()]

    def cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.pids)

    def stop(self) -> None:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "lib" / "cluster.py"), "down", "--dir", str(self.workdir)],
                       capture_output=True, timeout=60)


@dataclass
class RegStep(Step):
    """A step with what tells whether it was valid and who limited it."""

    achieved: float = math.nan  # registrations/s SIPp started (first to last)
    started: int = 0
    cpu_s: float = math.nan  # the system's CPU time over the step and DRAIN_S after it
    gen_cpu_s: float = math.nan  # SIPp's CPU time over its run
    gen_busy: float = math.nan  # SIPp's CPU time over its wall time: the share of its core it used
    stalls: int = 0  # SIPp's watchdog trips
    gen_drops: int = 0  # datagrams SIPp's socket dropped (its receive buffer full)
    server_drops: int = 0  # datagrams the system's socket dropped
    retransmissions: int = 0  # REGISTERs SIPp sent again (an answer later than 500 ms, or lost)
    causes: dict[str, int] = field(default_factory=dict)  # failed registrations by SIPp's cause
    max_p99_ms: float = MAX_P99_MS

    @property
    def cpu_us(self) -> float:
        """The system's CPU time per completed registration, in microseconds."""
        return self.cpu_s * 1e6 / self.successful if self.successful else math.nan

    @property
    def gen_cpu_us(self) -> float:
        return self.gen_cpu_s * 1e6 / self.successful if self.successful else math.nan

    def problems(self) -> list[str]:
        found = []
        if not self.clean:
            causes = ", ".join(f"{cause} {n}" for cause, n in self.causes.items()) or f"SIPp exit {self.returncode}"
            found.append(f"{self.calls - self.successful} of {self.calls} registrations failed ({causes})")
        p99 = percentile(self.response_ms, 0.99)
        if not p99 <= self.max_p99_ms:
            found.append(f"response p99 {p99:.0f} ms over {self.max_p99_ms:.0f} ms")
        elif self.clean and len(self.response_ms) != 2 * self.calls:
            found.append(f"{len(self.response_ms)} responses timed for {2 * self.calls} requests")
        if self.achieved_short:
            found.append(f"SIPp achieved {self.achieved:.1f} of {self.rate} registrations/s ({self.started} started)")
        return found

    @property
    def achieved_short(self) -> bool:
        return self.started < self.calls or not self.achieved >= MIN_ACHIEVED * self.rate

    def generator_signs(self) -> list[str]:
        """What says that SIPp, not the system, could not keep up."""
        signs = []
        if self.achieved_short:
            signs.append(f"achieved {self.achieved:.0f} of {self.rate}/s")
        if self.stalls:
            signs.append(f"its watchdog tripped {self.stalls} times")
        if self.gen_busy >= GENERATOR_SATURATED:
            signs.append(f"its CPU {self.gen_busy:.0%} of its core")
        if self.gen_drops:
            signs.append(f"its socket dropped {self.gen_drops} replies")
        return signs

    def verdict(self) -> str:
        """'' for a valid step; else what failed, and whether the generator was the limit."""
        problems = self.problems()
        if not problems:
            return ""
        signs = self.generator_signs()
        return "; ".join(problems) + (f"; GENERATOR-BOUND (SIPp: {', '.join(signs)})" if signs else "")


def run_step(target: str, rate: int, seconds: int, workdir: Path, inf: Path, system: System, max_p99_ms: float) -> RegStep:
    """One bounded step: ``rate`` registrations/s for ``seconds`` s, SIPp watched while it runs."""
    workdir.mkdir(parents=True, exist_ok=True)
    calls = rate * seconds
    cmd = pinned(LOAD_CPU, [
        "sipp", "-sf", str(SCENARIO), target, "-i", "127.0.0.1", "-p", "0", "-t", "u1",
        "-m", str(calls), "-r", str(rate), "-l", str(calls), "-timeout", str(seconds + 30), "-timeout_error",
        "-nostdin", "-recv_timeout", "3000", "-buff_size", str(SIPP_BUFFER), "-max_recv_loops", "10000",
        "-trace_logs", "-trace_stat", "-trace_err", "-inf", str(inf), "-key", "domain", "127.0.0.1", "-d", "0",
    ])
    server_drops = udp_drops(port=system.port)
    cpu_before = system.cpu_seconds()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    gen_drops = 0
    with open(workdir / "sipp.out", "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            inodes = socket_inodes(proc.pid)
            if inodes:
                gen_drops = max(gen_drops, udp_drops(inodes=inodes))
            if time.monotonic() - started > seconds + 60:
                proc.kill()
            time.sleep(0.25)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # SIPp is the only child reaped meanwhile
    gen_cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    time.sleep(DRAIN_S)
    cpu = system.cpu_seconds() - cpu_before
    server_drops = udp_drops(port=system.port) - server_drops
    traced: dict[str, list[float]] = {}
    for logfile in workdir.glob("*_logs.log"):
        for line in logfile.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2:
                try:
                    traced.setdefault(parts[0], []).append(float(parts[1]))
                except ValueError:
                    pass
        logfile.unlink()
    stdout = (workdir / "sipp.out").read_text(errors="replace")
    starts = sorted(traced.get("S0", []))
    achieved = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else math.nan
    stats = sorted(workdir.glob("*_.csv"))
    row = last_row(stats[-1]) if stats else {}
    return RegStep(
        rate, calls, _counter(stdout, "Successful call"), _counter(stdout, "Failed call"), proc.returncode, wall,
        [us / 1000.0 for tag in ("R1", "R2") for us in traced.get(tag, [])], traced,
        achieved=achieved, started=len(starts), cpu_s=cpu, gen_cpu_s=gen_cpu, gen_busy=gen_cpu / wall,
        stalls=watchdog_trips(row), gen_drops=gen_drops, server_drops=server_drops,
        retransmissions=stat(row, "Retransmissions(C)"), causes=failure_causes(workdir), max_p99_ms=max_p99_ms,
    )


def step_detail(step: Step) -> str:
    assert isinstance(step, RegStep)
    verdict = step.verdict()
    return (f"achieved {step.achieved:.1f}/s, CPU {step.cpu_us:,.0f} us/registration "
            f"(SIPp {step.gen_cpu_us:,.0f} us, {step.gen_busy:.0%} of its core), "
            f"{step.retransmissions} retransmitted, socket drops: server {step.server_drops}, SIPp {step.gen_drops}; "
            f"SIPp stalls {step.stalls}" + (f"; FAIL: {verdict}" if verdict else ""))


def measure(system: System, rates: list[int], seconds: int, max_p99_ms: float) -> tuple[RegStep | None, list[RegStep]]:
    """The highest passing step, and every step run (the warm-up left out)."""
    inf = system.users()
    system.start()
    steps: list[RegStep] = []

    def step(rate: int) -> RegStep:
        result = run_step(target, rate, seconds, system.workdir / f"step-{rate}", inf, system, max_p99_ms)
        steps.append(result)
        return result

    try:
        target = f"{system.host}:{system.port}"
        warm = run_step(target, 1000, len(USERS) // 1000, system.workdir / "warmup", inf, system, max_p99_ms)
        log(f"  {system.name} warm-up (not judged): {warm.successful}/{warm.calls} registered; {step_detail(warm)}")
        best = climb(system.name, "REGISTER/s", rates, step, lambda s: isinstance(s, RegStep) and not s.problems(),
                     step_detail)
        return (best if isinstance(best, RegStep) else None), steps
    finally:
        system.stop()


def describe(name: str, best: RegStep | None, steps: list[RegStep], seconds: int) -> str:
    after = steps[steps.index(best) + 1] if best is not None and steps.index(best) + 1 < len(steps) else None
    if best is None:
        first = steps[0] if steps else None
        why = f" ({first.rate}/s: {first.verdict()}; CPU {first.cpu_us:,.0f} us/registration)" if first else ""
        return f"bench_register {name}: no rate sustained with zero failures and p99 <= {MAX_P99_MS:.0f} ms{why}"
    if after is None:
        ceiling = "passed every step: its ceiling is higher"
    elif after.generator_signs():
        ceiling = (f"GENERATOR-BOUND: at {after.rate}/s SIPp could not keep up ({', '.join(after.generator_signs())}), "
                   f"so {name}'s ceiling may be higher ({'; '.join(after.problems())})")
    else:
        ceiling = f"at {after.rate}/s: {'; '.join(after.problems())}"
    return (f"bench_register {name}: {best.rate} authenticated REGISTER/s sustained {seconds} s "
            f"(achieved {best.achieved:.1f}/s), 0 failures (one core); response p50 "
            f"{percentile(best.response_ms, 0.5):.2f} ms, p99 {percentile(best.response_ms, 0.99):.2f} ms "
            f"(bound {best.max_p99_ms:.0f}); CPU {best.cpu_us:,.0f} us per registration "
            f"(SIPp {best.gen_cpu_us:,.0f} us, {best.gen_busy:.0%} of its core); {ceiling}")


def rmem_max() -> int:
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text())
    except (OSError, ValueError):
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--max-p99-ms", type=float, default=MAX_P99_MS, help="a step's response-time bound")
    parser.add_argument("--only", choices=["softswitch", "kamailio", "cluster"])
    parser.add_argument("--cluster", action="store_true", help="also two nodes behind the Kamailio edge on PostgreSQL "
                        "(scripts/bench_register sets SOFTSWITCH_CLUSTER_PG_URL)")
    parser.add_argument("--keep", metavar="DIR", help="copy the systems' logs and the SIPp runs there")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    if not 1 <= args.seconds <= 60:
        parser.error("--seconds: 1 to 60")
    cap = rmem_max()
    if cap and cap < SIPP_BUFFER // 2:
        log(f"note: net.core.rmem_max is {cap} bytes: SIPp's receive buffer gets {2 * cap} (the kernel doubles it), "
            f"not {SIPP_BUFFER}; as root: sysctl -w net.core.rmem_max={SIPP_BUFFER}")
    results: dict[str, tuple[RegStep | None, list[RegStep]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-register-") as tmp:
        for cls in (Softswitch, Kamailio, Cluster):
            key = "cluster" if cls is Cluster else cls.name
            if (args.only and key != args.only) or (cls is Cluster and not (args.cluster or args.only == "cluster")):
                continue
            log(f"{cls.name}:")
            workdir = Path(tmp) / key
            try:
                results[cls.name] = measure(cls(workdir), rates, args.seconds, args.max_p99_ms)
            finally:
                if args.keep:
                    shutil.copytree(workdir, Path(args.keep) / key, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("*.sock", "users.csv"))
    for name, (best, steps) in results.items():
        print(describe(name, best, steps, args.seconds))
    ours = results.get("softswitch", (None, []))[0]
    ref, ref_steps = results.get("kamailio", (None, []))
    if ours is not None and ref is not None:
        bound = ref_steps.index(ref) + 1 < len(ref_steps) and ref_steps[ref_steps.index(ref) + 1].generator_signs()
        line = (f"bench_register ratio softswitch/kamailio: {ours.rate / ref.rate:.2f} ({ours.rate} vs {ref.rate} REGISTER/s"
                + ("; Kamailio's rate is the generator's limit, so this ratio is an upper bound" if bound else "")
                + ("; Kamailio passed every step, so this ratio is an upper bound" if ref is ref_steps[-1] else "")
                + f"); CPU per registration kamailio/softswitch: {ref.cpu_us / ours.cpu_us:.3f} "
                f"({ref.cpu_us:,.0f} vs {ours.cpu_us:,.0f} us, at {ref.rate} and {ours.rate}/s")
        same = next((s for s in ref_steps if s.rate == ours.rate and not s.problems()), None)
        if same is not None and same is not ref:
            line += f"; at {ours.rate}/s both: {same.cpu_us / ours.cpu_us:.3f} ({same.cpu_us:,.0f} vs {ours.cpu_us:,.0f} us)"
        print(line + ")")
    both = results.get("cluster of 2", (None, []))[0]
    if ours is not None and both is not None:
        print(f"bench_register ratio cluster of 2/softswitch: {both.rate / ours.rate:.2f} ({both.rate} vs {ours.rate} REGISTER/s; "
              f"CPU per registration {both.cpu_us:,.0f} us (two nodes and the edge) vs {ours.cpu_us:,.0f} us; "
              "two cores shared by the nodes, the edge, PostgreSQL and SIPp)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
