"""Shared pieces of the benchmarks: pinning, free ports, SIPp runs and their statistics.

Every load is bounded: a fixed number of calls at a fixed rate, with a hard timeout.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVER_CPU = 0
LOAD_CPU = 1


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    """Run ``cmd`` on one CPU (server on 0, load generator on 1, as the bench README asks)."""
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else cmd


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_media_port() -> int:
    """An even port P with P..P+3 free on 127.0.0.1, for SIPp's ``-mp`` (it binds audio RTP and
    RTCP at P, P+1 and video at P+2, P+3), above the relay's default range and below the
    kernel's ephemeral ports, where other sockets bound to port 0 would come and go."""
    for _ in range(200):
        base = random.randrange(20000, 32000, 4)
        held: list[socket.socket] = []
        try:
            for p in range(base, base + 4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no 4 free consecutive UDP ports in 20000-32000")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Step:
    rate: int
    calls: int
    successful: int
    failed: int
    returncode: int
    wall: float
    response_ms: list[float]
    traced: dict[str, list[float]] = field(default_factory=dict)  # every "<tag> <number>" the scenario logged

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful == self.calls


def _counter(stdout: str, name: str) -> int:
    found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", stdout)
    return int(found[-1]) if found else 0


def run_sipp(
    scenario: Path, target: str, rate: int, seconds: int, workdir: Path, *, inf: Path | None = None,
    args: list[str] | None = None, local_ip: str = "127.0.0.1", local_port: int = 0, tags: tuple[str, ...] = ("R1", "R2"),
) -> Step:
    """One bounded step: ``rate`` calls/s for ``seconds`` seconds, response times traced.

    The scenario logs ``<tag> <microseconds>`` lines (``-trace_logs``); ``tags`` names the ones
    to collect, in milliseconds, as ``response_ms``. Every ``<tag> <number>`` line is also kept,
    as logged, in ``traced``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    calls = rate * seconds
    cmd = pinned(LOAD_CPU, [
        "sipp", "-sf", str(scenario), target, "-i", local_ip, "-p", str(local_port), "-t", "u1",
        "-m", str(calls), "-r", str(rate), "-timeout", str(seconds + 30), "-timeout_error", "-nostdin",
        "-recv_timeout", "3000", "-trace_logs", *(["-inf", str(inf)] if inf else []), *(args or []),
    ])
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=seconds + 60)
    wall = time.monotonic() - started
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
    times = [us / 1000.0 for tag in tags for us in traced.get(tag, [])]
    return Step(rate, calls, _counter(proc.stdout, "Successful call"), _counter(proc.stdout, "Failed call"),
                proc.returncode, wall, times, traced)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(path: Path, marker: bytes, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Wait until ``marker`` appears in a process's log file."""
    deadline = time.monotonic() + seconds
    while not path.exists() or marker not in path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            text = path.read_text(errors="replace")[-2000:] if path.exists() else ""
            raise RuntimeError(f"{path.name}: {marker.decode()!r} not seen: {text}")
        time.sleep(0.1)


class Server:
    """A system under test: started in ``workdir``, pinned to the server CPU, stopped at the end."""

    name = ""
    port = 0
    proc: subprocess.Popen[bytes] | None = None

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        stop(self.proc)


def spawn(cmd: list[str], workdir: Path, log_name: str, cpu: int = SERVER_CPU) -> subprocess.Popen[bytes]:
    """Start ``cmd`` pinned to ``cpu``, its output in ``workdir/log_name``."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / log_name, "wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(pinned(cpu, cmd), cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def start_softswitch(workdir: Path, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    """The switch with ``config`` (written to bench.yaml), logging at info as operators run it."""
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    proc = spawn([sys.executable, "-m", "softswitch", "serve", "--config", "bench.yaml", "--log-level", "info"],
                 workdir, "softswitch.log")
    wait_for(workdir / "softswitch.log", b"ready", proc)
    return proc


def still_running(proc: subprocess.Popen[bytes], log_path: Path, seconds: float = 2.0) -> None:
    """For a daemon that says nothing when ready: give it ``seconds``, then it must be alive."""
    time.sleep(seconds)
    if proc.poll() is not None:
        text = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else "(no log)"
        raise RuntimeError(f"{log_path.name}: exited: {text}")


def climb(name: str, unit: str, rates: list[int], run: Callable[[int], Step],
          passes: Callable[[Step], bool] = lambda step: step.clean,
          detail: Callable[[Step], str] | None = None) -> Step | None:
    """Step the rate up until a step fails; the last step that passed (None if none did).
    ``detail`` adds to each step's line."""
    best: Step | None = None
    for rate in rates:
        time.sleep(3)  # the previous step's retransmissions, calls and store writes drain
        step = run(rate)
        log(f"  {name} {rate} {unit}: {step.successful} ok, {step.failed} failed, "
            f"p50 {percentile(step.response_ms, 0.5):.2f} ms, p99 {percentile(step.response_ms, 0.99):.2f} ms"
            + (f"; {detail(step)}" if detail else ""))
        if not passes(step):
            break
        best = step
    return best


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants that are still running
    (a forking daemon such as Kamailio works in its children), from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except (OSError, ValueError):
            continue
        todo.extend(children.get(current, []))
    return total


def udp_drops(*, port: int | None = None, inodes: set[int] | None = None) -> int:
    """Datagrams dropped so far by the kernel at UDP sockets (their receive buffer full), from
    /proc/net/udp: the sockets bound to local ``port``, or those with one of ``inodes``."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) < 13:
            continue
        local_port = int(parts[1].rsplit(":", 1)[1], 16)
        if (port is not None and local_port == port) or (inodes is not None and int(parts[9]) in inodes):
            total += int(parts[12])
    return total


def socket_inodes(pid: int) -> set[int]:
    """The inodes of a process's sockets (/proc/<pid>/fd), for ``udp_drops``."""
    found = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(int(target[8:-1]))
    except OSError:
        pass
    return found
