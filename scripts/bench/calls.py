"""Call setup rate on one core: softswitch, sippy's B2BUA and Kamailio's stateful proxy side by side,
stepped rates, same run.

SIPp on 127.0.0.2 plays a provider calling a hotline; the switch (pinned to CPU 0) answers it as
a B2BUA: trunk recognised by source address, hotline routed to extension 200, a relay session
opened (four RTP/RTCP ports), a B leg sent to 200's registered contact (a SIPp answering phone),
and a call history row written when the call ends. Every call is held for 1 s, then BYE.
sippy's ``b2bua_simple`` (PyPI ``sippy``) runs the same scenario, with its next hop set to the
same answering SIPp; it relays signalling only (no media ports, no records). Kamailio (tm, the
reference config bench/kamailio-bench.cfg) proxies the same calls statefully to an answering SIPp
on 127.0.0.1:5080: the cost of SIP routing alone, what a B2BUA with media adds to it.

A step passes when every call of its ``--seconds`` succeeded and was valid, set up in under
0.5 s (p99), and SIPp started its calls at the asked rate (within 5 %). Valid: SIPp's ACK and
BYE go to the 200's Contact URI, and its last 200 must answer the BYE; no 200 was retransmitted
(received by the caller, sent by the answering phone: an ACK not taken), the answering phone
failed no call, and the system under test logged no error (sippy: no "can't parse", no
exception; softswitch: nothing at ERROR, no rejected or dropped message).

The figure that survives a shared VM is the CPU time per call: utime + stime of the system's
process (/proc/<pid>/stat) over the step and 1.5 s after it, divided by the calls completed.
A failed step also says whether SIPp itself stalled (its watchdog: the generator short of CPU).

Prints one result line per system (the highest passing rate, the p50/p99 setup time, INVITE
sent to 200 received, and the CPU time per call of that step) and the ratios.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

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
    tree_cpu_seconds,
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
# SIPp stops starting calls when too many are open (or its CPU is short): the asked rate is not
# the offered rate unless checked.
MIN_ACHIEVED = 0.95
DRAIN_S = 1.5  # after a step, before CPU and the phone's counters are read (its statistics: every 1 s)
NO_RTP = ["-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", "9"]  # discard: no RTP in this benchmark


class System(Server):
    log_name = ""

    def __init__(self, workdir: Path, phone_port: int) -> None:
        super().__init__(workdir)
        self.phone_port = phone_port  # where the answering SIPp listens
        self.steps: list[CallStep] = []

    @property
    def log_path(self) -> Path:
        return self.workdir / self.log_name

    def log_offset(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def logged_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def log_errors(self, text: str) -> tuple[int, int]:
        """(errors, of which parse errors) in a piece of the system's log."""
        raise NotImplementedError


class Softswitch(System):
    name = "softswitch"
    log_name = "softswitch.log"

    def log_errors(self, text: str) -> tuple[int, int]:
        # "x <source> ..." at info: a message rejected (4xx) or dropped as malformed
        parse = len(re.findall(r"^\S+ \S+ \w+ softswitch\.sip\.transport\.\w+: x ", text, re.M))
        errors = len(re.findall(r"^\S+ \S+ (?:ERROR|CRITICAL) ", text, re.M))
        errors += text.count("Traceback (most recent call last)")
        return errors + parse, parse

    media: dict[str, Any] | None = None  # bench_media through rtpengine: its media settings
    agents = 0  # bench_media's mixed step: extensions 300... (each supervised by 201), each on its own hotline

    def start(self) -> None:
        self.port = free_port()
        agents = agent_numbers(self.agents)
        config = {
            "server": {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": self.port}]},
            "store": {"url": f"sqlite+aiosqlite:///{self.workdir}/bench.db"},
            "keepalive": {"mode": "off"},
            "security": {"trusted_networks": ["127.0.0.0/8"]},  # load, not an attack: no per-source limits
            "admin": {"socket": str(self.workdir / "softswitch.sock")},
            "trunks": [{"name": "provider", "host": PROVIDER_IP, "port": 5060}],
            "accounts": [{
                "name": "bench", "domain": "bench.example", "default": True, "trunk": "provider",
                "hotlines": [{"number": HOTLINE, "trunk": "provider", "destination": "200"},
                             *({"number": agent_hotline(n), "trunk": "provider", "destination": n} for n in agents)],
                "extensions": [{"number": "200", "password": "bench-200"}, {"number": "201", "password": "bench-201"},
                               *({"number": n, "password": f"bench-{n}", "supervisors": ["201"]} for n in agents)],
            }],
        }
        if self.media is not None:
            config["media"] = self.media
        self.proc = start_softswitch(self.workdir, config)
        # Extension 200 (and the agents) register with the answering SIPp's address as their contact.
        users = self.workdir / "users.csv"
        users.write_text("SEQUENTIAL\n" + "".join(f"{n};[authentication username={n} password=bench-{n}]\n"
                                                   for n in ["200", *agents]))
        step = run_sipp(REGISTER, f"127.0.0.1:{self.port}", 1 + len(agents), 1, self.workdir / "register", inf=users,
                        args=["-key", "domain", "bench.example", "-d", "0"], local_port=self.phone_port)
        if not step.clean:
            raise RuntimeError(f"softswitch: extension 200{' and the agents' if agents else ''} did not register")


def agent_numbers(count: int) -> list[str]:
    """bench_media's mixed step's agents: extensions 300, 301 ..."""
    return [f"{300 + i}" for i in range(count)]


def agent_hotline(number: str) -> str:
    """The hotline that rings agent ``number`` (bench_media's mixed step)."""
    return f"028740{int(number):05d}"


class Sippy(System):
    name = "sippy"
    log_name = "sippy.out"  # in the foreground (-f) sippy logs to stdout and stderr; -L is for daemons

    def __init__(self, workdir: Path, phone_port: int, program: str) -> None:
        super().__init__(workdir, phone_port)
        self.program = shutil.which(program) or program

    def start(self) -> None:
        self.port = free_port()
        self.proc = spawn([self.program, "-f", "-l", "127.0.0.1", "-p", str(self.port),
                           "-n", f"127.0.0.1:{self.phone_port}"], self.workdir, self.log_name)
        still_running(self.proc, self.log_path)

    def log_errors(self, text: str) -> tuple[int, int]:
        # sippy's dump_exception: "<date> <time> @<program>[<pid>] <what>:", then the traceback
        dumps = re.findall(r"^\S+ \S+ @\S+\[\d+\] (.*):$", text, re.M)
        return len(dumps), sum("can't parse" in what for what in dumps)


class Kamailio(System):
    """Kamailio 5.6 as a stateful proxy (tm), the second reference: bench/kamailio-bench.cfg relays
    every call to 127.0.0.1:5080, where this system's answering phone listens."""

    name = "kamailio"
    log_name = "kamailio.log"
    CONFIG = ROOT / "bench" / "kamailio-bench.cfg"

    def start(self) -> None:
        self.port = 5070  # both fixed in the reference config
        self.proc = spawn(["kamailio", "-f", str(self.CONFIG), "-DD", "-E", "-m", "1024", "-M", "16"],
                          self.workdir, self.log_name)
        still_running(self.proc, self.log_path)

    def log_errors(self, text: str) -> tuple[int, int]:
        errors = re.findall(r"^\s*\d+\(\d+\) (?:ERROR|CRITICAL|ALERT): (.*)$", text, re.M)
        return len(errors), sum("parse" in e for e in errors)


@dataclass
class CallStep(Step):
    """A step of ``call_step`` with what makes it valid (besides SIPp's own success count)."""

    achieved: float = math.nan  # calls/s SIPp started (first to last call)
    started: int = 0  # calls SIPp started
    cpu_s: float = math.nan  # the system's CPU time over the step
    retrans_2xx: int = 0  # 200s retransmitted: received by the caller, sent by the answering phone
    phone_failed: int = 0  # calls the answering phone failed
    log_errors: int = 0  # errors in the system's log, parse errors included
    parse_errors: int = 0
    causes: dict[str, int] = field(default_factory=dict)  # the caller's failed calls by SIPp's cause
    stalls: int = 0  # SIPp's watchdog trips (its loop late by >= 0.5 s), caller's and phone's: generator short of CPU

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_s * 1e6 / self.successful if self.successful else math.nan

    def problems(self) -> list[str]:
        found = []
        if not self.clean:
            causes = ", ".join(f"{cause} {n}" for cause, n in self.causes.items()) or f"SIPp exit {self.returncode}"
            found.append(f"{self.calls - self.successful} of {self.calls} calls failed ({causes})")
        p99 = percentile(self.response_ms, 0.99)
        if p99 > MAX_SETUP_P99_MS:
            found.append(f"setup p99 {p99:.0f} ms over {MAX_SETUP_P99_MS:.0f} ms")
        elif self.clean and len(self.response_ms) != self.calls:
            found.append(f"{len(self.response_ms)} setups timed for {self.calls} calls")
        if self.started < self.calls or not self.achieved >= MIN_ACHIEVED * self.rate:
            found.append(f"SIPp achieved {self.achieved:.1f} of {self.rate} calls/s ({self.started} calls started)")
        if self.retrans_2xx:
            found.append(f"{self.retrans_2xx} retransmitted 2xx")
        if self.phone_failed:
            found.append(f"answering phone failed {self.phone_failed} calls")
        if self.log_errors:
            found.append(f"{self.log_errors} errors in the log ({self.parse_errors} parse errors)")
        if found and self.stalls:
            found.append(f"SIPp itself stalled {self.stalls} times (watchdog): maybe the generator's limit")
        return found


def step_detail(step: Step) -> str:
    assert isinstance(step, CallStep)
    problems = step.problems()
    return (f"achieved {step.achieved:.1f}/s, CPU {step.cpu_us_per_call:,.0f} us/call, "
            f"{step.retrans_2xx} retransmitted 2xx, phone {step.phone_failed} failed, "
            f"log {step.log_errors} errors ({step.parse_errors} parse), SIPp stalls {step.stalls}"
            + (f"; FAIL: {'; '.join(problems)}" if problems else ""))


def last_row(path: Path) -> dict[str, str]:
    """The last complete row of a SIPp CSV (-trace_counts, -trace_stat), by column name."""
    lines = path.read_text(errors="replace").split("\n")[:-1]  # the last piece may be half-written
    if len(lines) < 2:
        return {}
    header = next(csv.reader([lines[0]], delimiter=";"))
    row = next(csv.reader([lines[-1]], delimiter=";"))
    return dict(zip(header, row, strict=False)) if len(row) >= len(header) - 1 else {}


def retransmitted_200s(row: dict[str, str]) -> int:
    return sum(int(v or 0) for k, v in row.items() if k.endswith("_200_Retrans"))


def stat(row: dict[str, str], name: str) -> int:
    value = row.get(name, "")
    return int(value) if value.isdigit() else 0


def watchdog_trips(row: dict[str, str]) -> int:
    return stat(row, "WatchdogMajor(C)") + stat(row, "WatchdogMinor(C)")


def phone_counters(workdir: Path) -> tuple[int, int, int]:
    """(retransmitted 200s, failed calls, watchdog trips) of the answering phone so far (its
    statistics: every 1 s)."""
    counts = sorted(workdir.glob("*_counts.csv"))
    stats = sorted(workdir.glob("*_.csv"))
    row = last_row(stats[-1]) if stats else {}
    return retransmitted_200s(last_row(counts[-1])) if counts else 0, stat(row, "FailedCall(C)"), watchdog_trips(row)


def failure_causes(workdir: Path) -> dict[str, int]:
    """A finished SIPp's failed calls by cause (its -trace_stat: TimeoutOnRecv, ...), unexpected
    messages by what they were (its -trace_err: "unexpected 503")."""
    stats = sorted(workdir.glob("*_.csv"))
    row = last_row(stats[-1]) if stats else {}
    causes = {k[len("Failed"):-len("(C)")]: int(v) for k, v in row.items()
              if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v.isdigit() and int(v)}
    unexpected: dict[str, int] = {}
    for errors in workdir.glob("*_errors.log"):
        text = errors.read_text(errors="replace")
        for what in re.findall(r"Aborting call on unexpected message .*?, received '(?:SIP/2\.0 )?(\S+)", text):
            unexpected[f"unexpected {what}"] = unexpected.get(f"unexpected {what}", 0) + 1
    if unexpected and sum(unexpected.values()) == causes.get("UnexpectedMessage"):
        del causes["UnexpectedMessage"]
    return causes | unexpected


def answering_phone(workdir: Path, port: int, seconds: int, rtp: list[str] = NO_RTP) -> subprocess.Popen[bytes]:
    """The called phone: one SIPp answering every call, for at most ``seconds``; ``rtp`` names
    the RTP address its answers give (``-key rtp_ip``, ``-key rtp_port``)."""
    return spawn(["sipp", "-sf", str(ANSWER), "-i", "127.0.0.1", "-p", str(port), "-t", "u1", "-nostdin",
                  "-timeout", str(seconds), "-max_recv_loops", "5000", "-trace_err",
                  "-trace_counts", "-trace_stat", "-fd", "1", *rtp], workdir, "phone.out", LOAD_CPU)


def call_step(system: System, rate: int, seconds: int, name: str) -> CallStep:
    assert system.proc is not None
    phone_dir = system.workdir / "phone"
    phone_before = phone_counters(phone_dir)
    offset = system.log_offset()
    cpu_before = tree_cpu_seconds(system.proc.pid)  # Kamailio works in its children
    workdir = system.workdir / name
    step = run_sipp(CALLER, f"127.0.0.1:{system.port}", rate, seconds, workdir,
                    args=["-s", HOTLINE, "-d", str(HOLD_MS), "-trace_counts", "-trace_stat", "-trace_err", *NO_RTP],
                    local_ip=PROVIDER_IP, tags=("R1",))
    time.sleep(DRAIN_S)  # late retransmissions, history rows; the phone's next statistics
    cpu = tree_cpu_seconds(system.proc.pid) - cpu_before
    phone_after = phone_counters(phone_dir)
    errors, parse = system.log_errors(system.logged_since(offset))
    starts = sorted(step.traced.get("S0", []))
    achieved = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else math.nan
    counts = sorted(workdir.glob("*_counts.csv"))
    caller_retrans = retransmitted_200s(last_row(counts[-1])) if counts else 0
    stats = sorted(workdir.glob("*_.csv"))
    caller_stalls = watchdog_trips(last_row(stats[-1])) if stats else 0
    result = CallStep(**{f.name: getattr(step, f.name) for f in fields(Step)}, achieved=achieved, started=len(starts),
                      cpu_s=cpu, retrans_2xx=caller_retrans + phone_after[0] - phone_before[0],
                      phone_failed=phone_after[1] - phone_before[1], log_errors=errors, parse_errors=parse,
                      causes=failure_causes(workdir), stalls=caller_stalls + phone_after[2] - phone_before[2])
    system.steps.append(result)
    return result


def measure(system: System, rates: list[int], seconds: int) -> Step | None:
    budget = 120 + len(rates) * (seconds + 40)
    phone: subprocess.Popen[bytes] | None = None
    try:
        system.start()  # first: the switch's extension registers from the phone's port
        phone = answering_phone(system.workdir / "phone", system.phone_port, budget)
        time.sleep(1.0)
        warm = call_step(system, 50, 4, "warmup")
        system.steps.clear()
        log(f"  {system.name} warm-up: {warm.successful}/{warm.calls} calls; {step_detail(warm)}")
        return climb(system.name, "calls/s", rates, lambda rate: call_step(system, rate, seconds, f"step-{rate}"),
                     lambda step: isinstance(step, CallStep) and not step.problems(), step_detail)
    finally:
        system.stop()
        stop(phone)


def describe(system: System, best: Step | None, seconds: int) -> str:
    if not isinstance(best, CallStep):
        first = system.steps[0] if system.steps else None
        why = (f" ({first.rate} calls/s: {'; '.join(first.problems())}; CPU {first.cpu_us_per_call:,.0f} us/call)"
               if first else "")
        return f"bench_calls {system.name}: no rate sustained with valid calls{why}"
    return (f"bench_calls {system.name}: {best.rate} calls/s sustained {seconds} s (achieved {best.achieved:.1f}/s), "
            f"0 failed calls, 0 retransmitted 2xx, 0 log errors, held {HOLD_MS / 1000:g} s (one core); "
            f"setup p50 {percentile(best.response_ms, 0.5):.2f} ms, p99 {percentile(best.response_ms, 0.99):.2f} ms; "
            f"CPU {best.cpu_us_per_call:,.0f} us per call")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--only", choices=["softswitch", "sippy", "kamailio"])
    parser.add_argument("--sippy", default="b2bua_simple", help="sippy's b2bua_simple program")
    parser.add_argument("--keep", metavar="DIR", help="copy the systems' logs and the SIPp runs there")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: dict[str, Step | None] = {}
    systems: dict[str, System] = {}
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        for name in ("softswitch", "sippy", "kamailio"):
            if args.only and name != args.only:
                continue
            log(f"{name}:")
            workdir = Path(tmp) / name
            system: System = (Softswitch(workdir, free_port()) if name == "softswitch" else
                              Sippy(workdir, free_port(), args.sippy) if name == "sippy" else Kamailio(workdir, 5080))
            systems[name] = system
            try:
                results[name] = measure(system, rates, args.seconds)
            finally:
                if args.keep:
                    shutil.copytree(workdir, Path(args.keep) / name, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("*.sock"))
    for name, best in results.items():
        print(describe(systems[name], best, args.seconds))
    ours = results.get("softswitch")
    for name in ("sippy", "kamailio"):
        ref = results.get(name)
        if isinstance(ours, CallStep) and isinstance(ref, CallStep):
            top = " (it passed every step: an upper bound)" if ref.rate == rates[-1] else ""
            print(f"bench_calls ratio softswitch/{name}: {ours.rate / ref.rate:.2f} ({ours.rate} vs {ref.rate} calls/s{top}); "
                  f"CPU per call {name}/softswitch: {ref.cpu_us_per_call / ours.cpu_us_per_call:.3f} "
                  f"({ref.cpu_us_per_call:,.0f} vs {ours.cpu_us_per_call:,.0f} us, at {ref.rate} and {ours.rate} calls/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
