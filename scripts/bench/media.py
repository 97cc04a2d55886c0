"""Relayed G.711 calls on one core: softswitch and rtpengine side by side, stepped call counts.

For each N: N calls are set up for real (the switch: SIPp provider on 127.0.0.2 calls a hotline
routed to extension 200, a SIPp phone answers, both SDPs naming the RTP generator's sockets;
rtpengine: ``offer``/``answer`` over its ng control protocol), then ``bench/rtpgen/rtpgen.c``
(C, ``sendmmsg``/``recvmmsg``, built with cc at run time, pinned to the other CPU) sends 50 packets/s each way per call,
172-byte packets, for ``--seconds``, to the relay ports each system handed out, and measures
what comes back: loss, and one-way latency through the relay (loopback itself adds ~0.02 ms).
A step passes when under 0.1 % of the packets were lost or came more than 50 ms late (too
late for any jitter buffer: as good as lost). The generator says when it fell behind (its own CPU,
sending slots more than 5 ms late): a step failed then is generator-bound.

The figure that survives a shared VM is the CPU time per relayed packet: utime + stime of the
relay's processes (/proc/<pid>/stat: the switch; rtpengine's daemon) over the generator's run,
divided by the packets that came back through the relay.

Prints one result line per system (the largest passing N with latency p50/p99 and CPU per
packet) and the ratios.

``--mixed N`` (default 50; 0: none) adds a step for the switch alone: N calls relayed as above,
each to its own agent (extensions 300, 301 ..., each on its own hotline, all answered by the
SIPp phone), for ``--seconds``, then a supervisor joins each (SIPp as extension 201 dials
``*221300``, ``*221301`` ...: listen, its leg hears both parties, a 20 ms mix) and the same
calls are relayed again, the mixes going to a sink that counts them.  It prints the switch's CPU per call per second without and with
the supervisors (rtpengine mixes nothing, so there is no reference for that line) and the
extra CPU per mixed frame sent.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calls import HOTLINE, PROVIDER_IP, Softswitch, agent_hotline, agent_numbers, answering_phone
from common import LOAD_CPU, free_port, log, pinned, spawn, stop, tree_cpu_seconds
from ng import NgClient

from softswitch.admin import query

ROOT = Path(__file__).resolve().parents[2]
RTPGEN_SOURCE = ROOT / "bench" / "rtpgen" / "rtpgen.c"
CALLER = ROOT / "bench" / "call_uac_timed.xml"
SUPERVISOR = ROOT / "bench" / "monitor_uac.xml"
DEFAULT_COUNTS = [100, 250, 500, 600, 700, 800, 1000, 1250, 1500, 2000]
MAX_LOSS_PCT = 0.1
SETUP_RATE = 200  # calls/s while a step's calls are set up
GENERATOR_SATURATED = 90.0  # rtpgen's CPU, % of its core
LATE_SLOTS_SHARE = 0.001  # rtpgen behind in more than 0.1 % of its 1 ms sending slots: it, not the relay, is late
LATE_SLOTS_NOISE = 2  # a slot or two late in 10 s is the machine (a preempted generator), not a bound


@dataclass
class Result:
    calls: int
    report: dict[str, Any]
    cpu_s: float = math.nan  # the relay's CPU time over the generator's run

    @property
    def cpu_us_per_packet(self) -> float:
        """The relay's CPU time per packet it relayed (that came back to the generator), in us."""
        received = int(self.report["received"])
        return self.cpu_s * 1e6 / received if received else math.nan

    def generator_signs(self) -> list[str]:
        """What says that rtpgen, not the relay, fell behind."""
        r, signs = self.report, []
        if float(r["gen_cpu_pct"]) >= GENERATOR_SATURATED:
            signs.append(f"its CPU {r['gen_cpu_pct']} %")
        slots = float(r["elapsed_s"]) * 1000  # rtpgen sends in 1 ms slots
        if int(r["late_slots"]) > max(LATE_SLOTS_NOISE, LATE_SLOTS_SHARE * slots):
            signs.append(f"{r['late_slots']} of {slots:.0f} sending slots > 5 ms late")
        return signs

    @property
    def loss_pct(self) -> float:
        return float(self.report["loss_pct"])

    @property
    def effective_loss_pct(self) -> float:
        """Lost, or later than 50 ms."""
        return float(self.report["eff_loss_pct"])

    @property
    def passed(self) -> bool:
        return self.effective_loss_pct < MAX_LOSS_PCT and self.report["send_fail"] == 0

    def latency(self) -> str:
        r = self.report
        return f"p50 {r['lat_p50_us'] / 1000:.2f} ms, p99 {r['lat_p99_us'] / 1000:.2f} ms, p99.9 {r['lat_p999_us'] / 1000:.2f} ms"


def rtpgen(binary: Path, workdir: Path, ports: list[tuple[int, int]], gen_a: int, gen_b: int, seconds: int) -> dict[str, Any]:
    """Run the generator over ``ports`` (call i: leg A port, leg B port) and return its report."""
    portmap = workdir / "portmap"
    portmap.write_text("".join(f"{a}\n{b}\n" for a, b in ports))
    proc = subprocess.run(
        pinned(LOAD_CPU, [str(binary), str(len(ports)), "0", str(gen_a), str(gen_b), str(seconds)]),
        env={"RTPGEN_PORTMAP": str(portmap)}, capture_output=True, text=True, timeout=seconds + 30, check=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


class SwitchRelay:
    """Calls through the switch: SIP sets them up, the live view names their relay ports."""

    name = "softswitch"

    @property
    def pids(self) -> list[int]:
        assert self.switch.proc is not None
        return [self.switch.proc.pid]

    def __init__(self, workdir: Path, gen_a: int, gen_b: int, seconds: int, counts: list[int], agents: int = 0) -> None:
        self.workdir = workdir
        self.gen_a, self.gen_b, self.seconds = gen_a, gen_b, seconds
        self.switch = Softswitch(workdir, free_port())
        self.switch.agents = agents  # calls to agents 300... (one each), not all to 200
        self.budget = 120 + sum(n // SETUP_RATE + seconds + 40 for n in counts)
        self.phone: subprocess.Popen[bytes] | None = None
        self.caller: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.switch.start()
        rtp = ["-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", str(self.gen_b)]
        self.phone = answering_phone(self.workdir / "phone", self.switch.phone_port, self.budget, rtp)
        time.sleep(1.0)

    def stop(self) -> None:
        stop(self.caller)
        stop(self.phone)
        self.switch.stop()

    def open(self, n: int, extra: int = 0) -> list[tuple[int, int]]:
        # Held long enough for the set-up, the generator's run (and ``extra`` seconds) and its drain; then BYE.
        hold_ms = (n // SETUP_RATE + self.seconds + extra + 8) * 1000
        scenario, dialled = CALLER, ["-s", HOTLINE]
        if self.switch.agents:  # call i to agent i's hotline: the scenario's number from an injection file
            scenario = self.workdir / "call_uac_agents.xml"
            scenario.write_text(CALLER.read_text().replace("[service]", "[field0]"))
            dialled = ["-inf", str(self.injection("hotlines.csv", [agent_hotline(a) for a in self.agents()]))]
        self.caller = spawn([
            "sipp", "-sf", str(scenario), f"127.0.0.1:{self.switch.port}", "-i", PROVIDER_IP, "-p", "0", "-t", "u1",
            "-m", str(n), "-r", str(SETUP_RATE), "-l", str(n), *dialled, "-d", str(hold_ms),
            "-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", str(self.gen_a),
            "-timeout", str(hold_ms // 1000 + n // SETUP_RATE + 30), "-timeout_error", "-nostdin", "-nd",
        ], self.workdir / f"calls-{n}", "caller.out", LOAD_CPU)
        deadline = time.monotonic() + n / SETUP_RATE + 30
        socket_path = str(self.workdir / "softswitch.sock")
        while True:
            live = [c for c in query(socket_path, "calls") if c["answered"] and len(c["ports"]) == 2]
            if len(live) >= n:
                return [(c["ports"]["a"], c["ports"]["b"]) for c in live[:n]]
            if time.monotonic() > deadline or self.caller.poll() is not None:
                raise RuntimeError(f"softswitch: only {len(live)} of {n} calls set up")
            time.sleep(0.5)

    def agents(self) -> list[str]:
        return agent_numbers(self.switch.agents)

    def injection(self, name: str, values: list[str]) -> Path:
        """A SIPp injection file: call i takes ``values[i]`` as ``[field0]``."""
        path = self.workdir / name
        path.write_text("SEQUENTIAL\n" + "".join(f"{v};\n" for v in values))
        return path

    def supervise(self, n: int, sink: int, seconds: int) -> subprocess.Popen[bytes]:
        """A supervisor (201) listening to the call of each of the ``n`` agents, its RTP to
        ``sink``; returns once every call has one."""
        targets = self.injection("supervised.csv", [f"*221{a}" for a in self.agents()[:n]])
        supervisors = spawn([
            "sipp", "-sf", str(SUPERVISOR), f"127.0.0.1:{self.switch.port}", "-i", "127.0.0.1", "-p", "0", "-t", "u1",
            "-m", str(n), "-r", "50", "-l", str(n), "-inf", str(targets), "-d", str(seconds * 1000),
            "-au", "201", "-ap", "bench-201", "-key", "user", "201", "-key", "domain", "bench.example",
            "-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", str(sink),
            "-timeout", str(seconds + n // 50 + 30), "-timeout_error", "-nostdin", "-trace_err",
        ], self.workdir / f"supervisors-{n}", "supervisors.out", LOAD_CPU)
        deadline = time.monotonic() + n / 50 + 30
        socket_path = str(self.workdir / "softswitch.sock")
        while True:
            watched = [c for c in query(socket_path, "calls") if "m" in c["ports"]]
            if len(watched) >= n:
                return supervisors
            if time.monotonic() > deadline or supervisors.poll() is not None:
                stop(supervisors)
                raise RuntimeError(f"softswitch: only {len(watched)} of {n} calls got their supervisor")
            time.sleep(0.5)

    def close(self, n: int) -> None:
        if self.caller is not None:
            try:
                self.caller.wait(n // SETUP_RATE + 60)
            finally:
                stop(self.caller)
                self.caller = None


class Rtpengine:
    """rtpengine (Debian ``rtpengine-daemon``, userspace forwarding), driven over ng."""

    name = "rtpengine"

    @property
    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid]  # taskset execs the daemon: its pid (--foreground: no fork)

    def __init__(self, workdir: Path, gen_a: int, gen_b: int, ports: tuple[int, int] = (12000, 32000)) -> None:
        self.workdir = workdir
        self.gen_a, self.gen_b = gen_a, gen_b
        self.ports = ports
        self.ng_port, self.dtmf_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ng: NgClient | None = None

    def start(self) -> None:
        log_path = self.workdir / "rtpengine.log"
        self.proc = spawn([
            "rtpengine", "--config-file", "none", "--foreground", "--log-stderr", "--log-level", "5", "--table", "-1",
            "--interface", "127.0.0.1", "--listen-ng", f"127.0.0.1:{self.ng_port}",
            # Relay ports below the ephemeral range, where rtpgen's own sockets are bound;
            # deleted calls give their ports back at once (not 30 s later).
            "--port-min", str(self.ports[0]), "--port-max", str(self.ports[1]), "--delete-delay", "0",
            "--num-threads", "1", "--no-redis-required", "--listen-cli", f"127.0.0.1:{free_port()}",
            "--dtmf-log-dest", f"127.0.0.1:{self.dtmf_port}",
        ], self.workdir, "rtpengine.log")
        self.ng = NgClient(("127.0.0.1", self.ng_port))
        deadline = time.monotonic() + 20
        while not self.ng.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rtpengine did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        stop(self.proc)

    def open(self, n: int) -> list[tuple[int, int]]:
        assert self.ng is not None
        return [self.ng.relay(f"bench-{n}-{i}", ("127.0.0.1", self.gen_a), ("127.0.0.1", self.gen_b)) for i in range(n)]

    def close(self, n: int) -> None:
        assert self.ng is not None
        for i in range(n):
            self.ng.delete(f"bench-{n}-{i}")


class SwitchOnRtpengine(SwitchRelay):
    """Calls set up through the switch with ``media.engine: rtpengine``: the switch signals,
    rtpengine relays; the CPU counted is both processes'."""

    name = "softswitch+rtpengine"

    def __init__(self, workdir: Path, gen_a: int, gen_b: int, seconds: int, counts: list[int]) -> None:
        super().__init__(workdir, gen_a, gen_b, seconds, counts)
        self.engine = Rtpengine(workdir, gen_a, gen_b, ports=(21000, 32000))  # above the switch's own pool

    @property
    def pids(self) -> list[int]:
        return [*super().pids, *self.engine.pids]

    def start(self) -> None:
        self.engine.start()
        self.switch.media = {"engine": "rtpengine", "rtpengine": f"udp:127.0.0.1:{self.engine.ng_port}",
                             "rtpengine_dtmf": f"127.0.0.1:{self.engine.dtmf_port}"}
        super().start()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.engine.stop()


def measure(system: SwitchRelay | Rtpengine, binary: Path, counts: list[int], gen_a: int, gen_b: int, seconds: int,
            steps: list[Result]) -> Result | None:
    """The largest passing step; every step run is added to ``steps``."""
    system.start()
    try:
        best: Result | None = None
        for n in counts:
            try:
                ports = system.open(n)
            except RuntimeError as exc:  # the system could not set up that many calls
                log(f"  {system.name} {n} calls: not set up: {exc}")
                break
            try:
                cpu_before = sum(tree_cpu_seconds(pid) for pid in system.pids)
                report = rtpgen(binary, system.workdir, ports, gen_a, gen_b, seconds)
                result = Result(n, report, sum(tree_cpu_seconds(pid) for pid in system.pids) - cpu_before)
            finally:
                system.close(n)
            steps.append(result)
            r = result.report
            signs = result.generator_signs()
            log(f"  {system.name} {n} calls: {r['received']}/{r['sent']} packets, loss {result.loss_pct:.3f} %, "
                f"late > 50 ms {r['late_gt_50ms']}, "
                f"latency {result.latency()}, CPU {result.cpu_us_per_packet:.1f} us/packet, "
                f"generator CPU {r['gen_cpu_pct']} %, late slots {r['late_slots']}"
                + ("" if result.passed else "; FAIL" + (f": GENERATOR-BOUND (rtpgen: {', '.join(signs)})" if signs else "")))
            if not result.passed:
                break
            best = result
            time.sleep(2)
        return best
    finally:
        system.stop()


class Sink:
    """A UDP port that counts what it is sent (the supervisors' mixes), on a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.done.is_set():
            try:
                self.sock.recv(2048)
            except TimeoutError:
                continue
            self.packets += 1

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.sock.close()


def mixed_step(system: SwitchRelay, binary: Path, n: int, gen_a: int, gen_b: int, seconds: int) -> str:
    """The same ``n`` calls relayed without, then with, a supervisor listening to each."""
    system.start()
    sink = Sink()
    supervisors = None
    try:
        setup = n // 50 + 10  # the supervisors' set-up, with room
        ports = system.open(n, extra=seconds + setup)
        results = []
        try:
            for joined in (False, True):
                if joined:
                    supervisors = system.supervise(n, sink.port, seconds + setup)
                before, frames_before, started = tree_cpu_seconds(system.pid), sink.packets, time.monotonic()
                report = rtpgen(binary, system.workdir, ports, gen_a, gen_b, seconds)
                elapsed = time.monotonic() - started  # the generator's run, with its start and drain
                result = Result(n, report, tree_cpu_seconds(system.pid) - before)
                frames = sink.packets - frames_before
                results.append((result, frames, elapsed))
                log(f"  softswitch {n} calls{' with a supervisor each' if joined else ''}: "
                    f"{report['received']}/{report['sent']} packets, loss {result.loss_pct:.3f} %, "
                    f"CPU {result.cpu_s / (n * elapsed) * 1e6:.0f} us per call-second"
                    + (f", {frames} mixed frames to the supervisors in {elapsed:.1f} s" if joined else ""))
        finally:
            system.close(n)
            stop(supervisors)
    finally:
        sink.close()
        system.stop()
    (plain, _, plain_s), (mixed, frames, mixed_s) = results
    per_call, before = mixed.cpu_s / (n * mixed_s) * 1e6, plain.cpu_s / (n * plain_s) * 1e6
    extra = (per_call - before) * n * mixed_s / max(1, frames)
    return (f"bench_media mixed: {n} calls with a supervisor listening to each (3 parties; the supervisor hears a "
            f"20 ms mix of both), {seconds} s: CPU {per_call:.0f} us per mixed call-second ({per_call / 1e4:.2f} % of a "
            f"core per call), against {before:.0f} us for the same calls before the supervisors joined; "
            f"{extra:.1f} us more per mixed frame; {frames / (n * mixed_s):.1f} mixed frames per supervisor per second "
            f"(50 sent is every one); the parties' packets lost or late {mixed.effective_loss_pct:.3f} % "
            f"(before: {plain.effective_loss_pct:.3f} %)")


def describe(name: str, best: Result | None, steps: list[Result], seconds: int) -> str:
    after = steps[steps.index(best) + 1] if best is not None and steps.index(best) + 1 < len(steps) else None
    if best is None:
        first = steps[0] if steps else None
        why = (f" ({first.calls} calls: lost or late {first.effective_loss_pct:.3f} %, CPU {first.cpu_us_per_packet:.1f} us/packet"
               + (f"; GENERATOR-BOUND (rtpgen: {', '.join(first.generator_signs())})" if first.generator_signs() else "")
               + ")") if first else ""
        return f"bench_media {name}: no call count relayed with under {MAX_LOSS_PCT} % lost or late{why}"
    if after is None:
        ceiling = "no larger count ran (the last one, or the next not set up: see above): its ceiling may be higher"
    else:
        r = after.report
        ceiling = (f"at {after.calls} calls: lost {after.loss_pct:.3f} %, late > 50 ms {r['late_gt_50ms']}, "
                   f"send failures {r['send_fail']}")
        if after.generator_signs():
            ceiling = (f"GENERATOR-BOUND: at {after.calls} calls rtpgen fell behind ({', '.join(after.generator_signs())}), "
                       f"so {name}'s ceiling may be higher ({ceiling})")
    return (f"bench_media {name}: {best.calls} concurrent G.711 calls relayed for {seconds} s (one core, 50 pps each way, "
            f"172-byte packets), lost or > 50 ms late {best.effective_loss_pct:.3f} %; one-way latency through the relay "
            f"{best.latency()}; CPU {best.cpu_us_per_packet:.1f} us per relayed packet "
            f"(generator CPU {best.report['gen_cpu_pct']} %); {ceiling}")


def build_rtpgen(workdir: Path) -> Path:
    """The generator, built from the repo's source with the machine's C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit(f"bench_media: no C compiler (cc or gcc) to build the RTP generator {RTPGEN_SOURCE}: "
                         "install one (Debian: apt-get install gcc; scripts/bench_media does)")
    binary = workdir / "rtpgen"
    built = subprocess.run([compiler, "-O2", "-o", str(binary), str(RTPGEN_SOURCE)], capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"bench_media: {compiler} could not build {RTPGEN_SOURCE}:\n{built.stderr}")
    return binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default=",".join(map(str, DEFAULT_COUNTS)))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", choices=["softswitch", "rtpengine", "softswitch+rtpengine"])
    parser.add_argument("--keep", metavar="DIR", help="copy the systems' logs and the SIPp runs there")
    parser.add_argument("--mixed", type=int, default=50, help="calls in the step with a supervisor on each (0: no such step)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    if not 1 <= args.seconds <= 60:
        parser.error("--seconds: 1 to 60")
    results: dict[str, Result | None] = {}
    steps: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        binary = build_rtpgen(Path(tmp))
        for name in ("softswitch", "rtpengine", "softswitch+rtpengine"):
            if args.only and name != args.only:
                continue
            log(f"{name}:")
            gen_a, gen_b = free_port(), free_port()
            workdir = Path(tmp) / name
            system: SwitchRelay | Rtpengine = (
                SwitchRelay(workdir, gen_a, gen_b, args.seconds, counts) if name == "softswitch"
                else Rtpengine(workdir, gen_a, gen_b) if name == "rtpengine"
                else SwitchOnRtpengine(workdir, gen_a, gen_b, args.seconds, counts))
            steps[name] = []
            try:
                results[name] = measure(system, binary, counts, gen_a, gen_b, args.seconds, steps[name])
            finally:
                if args.keep:
                    shutil.copytree(workdir, Path(args.keep) / name, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("*.sock"))
        mixed_line = None
        if args.mixed and args.only in (None, "softswitch"):
            log("softswitch with supervisors:")
            workdir = Path(tmp) / "mixed"
            try:
                gen_a, gen_b = free_port(), free_port()
                relay = SwitchRelay(workdir, gen_a, gen_b, args.seconds, [args.mixed], agents=args.mixed)
                mixed_line = mixed_step(relay, binary, args.mixed, gen_a, gen_b, args.seconds)
            except RuntimeError as exc:
                mixed_line = f"bench_media mixed: not measured: {exc}"
            finally:
                if args.keep:
                    shutil.copytree(workdir, Path(args.keep) / "mixed", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock"))
    for name, best in results.items():
        print(describe(name, best, steps[name], args.seconds))
    ours, ref = results.get("softswitch"), results.get("rtpengine")
    if ours is not None and ref is not None:
        line = (f"bench_media ratio softswitch/rtpengine: {ours.calls / ref.calls:.2f} ({ours.calls} vs {ref.calls} calls"
                + ("; rtpengine passed every step, so this ratio is an upper bound" if ref is steps["rtpengine"][-1] else "")
                + f"); CPU per relayed packet rtpengine/softswitch: {ref.cpu_us_per_packet / ours.cpu_us_per_packet:.2f} "
                f"({ref.cpu_us_per_packet:.1f} vs {ours.cpu_us_per_packet:.1f} us, at {ref.calls} and {ours.calls} calls")
        same = next((s for s in steps["rtpengine"] if s.calls == ours.calls and s.passed), None)
        if same is not None and same is not ref:
            line += (f"; at {ours.calls} calls both: {same.cpu_us_per_packet / ours.cpu_us_per_packet:.2f} "
                     f"({same.cpu_us_per_packet:.1f} vs {ours.cpu_us_per_packet:.1f} us)")
        print(line + ")")
    if mixed_line is not None:
        print(mixed_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
