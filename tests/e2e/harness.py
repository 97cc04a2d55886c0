"""Run the real switch as a subprocess on loopback, for end-to-end and interop tests."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SCENARIOS = Path(__file__).parent / "scenarios"


def _test_ports() -> range:
    """Ports the tests hand out: above the switch's RTP pool (10000-20000, baresip's default too)
    and the pools some tests give it (31000 and up), and below the kernel's ephemeral ports,
    which any outgoing connection or port-0 bind may take at any moment (a port picked there and
    bound a moment later by a phone was seen taken by then: "SIP Transport failed: Address
    already in use")."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = min(30996, low - 8)
    if top - 20004 < 4000:
        raise RuntimeError(f"the kernel's ephemeral ports start at {low}: the tests need 20004-30996 outside them")
    return range(20004, top, STEP)


STEP = 4  # a port handed out, and the three after it: SIPp's -mp N also takes N+1 to N+3 (RTCP, video)
_PORTS = _test_ports()
_cursor = [(os.getpid() * 7919) % len(_PORTS)]  # where this run starts handing ports out (an index)


def free_port(span: int = 1) -> int:
    """A port free for both UDP and TCP on 127.0.0.1, and the ones after it up to ``span``
    (baresip listens on its port with UDP and TCP and on the next one with TLS).  Ports are
    handed out in turn, four apart, from a range no kernel assigns by itself and no test's RTP
    pool covers, so none is given twice in a run and none is taken before its user binds it."""
    assert 1 <= span <= STEP
    for _ in range(len(_PORTS)):
        port = _PORTS[_cursor[0]]
        _cursor[0] = (_cursor[0] + 1) % len(_PORTS)
        held: list[socket.socket] = []
        try:
            for offset in range(span):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    sock = socket.socket(socket.AF_INET, kind)
                    held.append(sock)
                    sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return port
    raise RuntimeError("no free port")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        import pytest

        pytest.skip(f"!!! {name} is not installed: run scripts/test (it installs sip-tester, baresip, sipsak)")
    return path


def base_config(port: int, db: Path, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "server": {"listen": [
            {"transport": "udp", "address": "127.0.0.1", "port": port},
            {"transport": "tcp", "address": "127.0.0.1", "port": port},
        ]},
        "store": {"url": f"sqlite+aiosqlite:///{db}", "flush_interval": 0.05},
        "registration": {"min_expires": 2, "default_expires": 3600, "max_expires": 3600, "max_contacts": 5},
        "keepalive": {"mode": "nat", "interval": 25, "failures": 2},
        # The tests' phones and load generators mostly share 127.0.0.1: trusted (no request limits, as
        # an office behind one NAT address); other addresses get the default per-source limits.
        "security": {"ban_threshold": 20, "ban_window": 60, "ban_time": 30, "trusted_networks": ["127.0.0.1/32"]},
        "accounts": [
            {"name": "acme", "domain": "acme.example", "default": True,
             "extensions": [{"number": str(n), "password": f"acme-{n}-secret"} for n in range(101, 106)]
             + [{"number": str(n), "password": f"pw-{n}-secret"} for n in range(200, 300)]},
            {"name": "globex", "domain": "globex.example",
             "extensions": [{"number": str(n), "password": f"globex-{n}-secret"} for n in (101, 102)]},
            # The RFC 4475 messages address example.com; owning it makes the switch judge them fully.
            {"name": "torture", "domain": "example.com",
             "extensions": [{"number": "1000", "password": "torture-secret"}]},
        ],
    }
    for account in cfg["accounts"]:  # the tests of other features expect a call nobody takes to fail, not a mailbox
        account["voicemail"] = {"enabled": False}
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


@dataclass
class Switch:
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    clock: str | None = None  # "2026-11-23 03:00:00" (UTC): the switch's wall clock starts there (libfaketime)
    open_files: tuple[int, int] | None = None  # (soft, hard) RLIMIT_NOFILE the switch starts with
    prefix: tuple[str, ...] = ()  # a command the switch is started through (setpriv ...)

    @property
    def config_path(self) -> Path:
        return self.workdir / "switch.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "switch.log"

    def write_config(self, **overrides: Any) -> None:
        cfg = base_config(self.port, self.workdir / "switch.db", **{**self.overrides, **overrides})
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def start(self) -> Switch:
        if not self.config_path.exists():
            self.write_config()
        command = [*self.prefix, sys.executable, "-m", "softswitch", "serve", "--config", str(self.config_path)]
        env = None
        if self.clock is not None:  # only the wall clock moves: timers keep the real monotonic one
            require_tool("faketime")
            (lib,) = Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1")
            env = {**os.environ, "LD_PRELOAD": str(lib), "FAKETIME": f"@{self.clock}", "TZ": "UTC", "DONT_FAKE_MONOTONIC": "1"}
        before = self.log_path.read_bytes().count(b" ready") if self.log_path.exists() else 0  # a restart's old line
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            limits = self.open_files
            self.proc = subprocess.Popen(command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=None if limits is None else
                                         lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"switch exited: {self.log()}")
            if self.log_path.read_bytes().count(b" ready") > before:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"switch did not start: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "softswitch", *args], cwd=self.workdir, capture_output=True, text=True, timeout=60,
        )

    def registrations(self, account: str | None = None) -> list[dict[str, str]]:
        args = ["registrations", "--config", str(self.config_path)] + (["--account", account] if account else [])
        out = self.cli(*args)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        head = lines[0].split()
        rows = []
        for line in lines[1:-1]:
            cells = line.split(None, len(head) - 1)
            rows.append(dict(zip(head, cells, strict=False)))
        return rows

    def wait_for(self, predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def sipp(self, scenario: str, *args: str, transport: str = "u1", calls: int = 1, rate: int = 50,
             local_ip: str = "127.0.0.1", timeout: float = 60, users: list[tuple[str, str]] | None = None,
             domain: str | None = None, background: bool = False, local_port: int = 0,
             ) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
        sipp = require_tool("sipp")
        cmd = [sipp, "-sf", str(SCENARIOS / scenario), f"127.0.0.1:{self.port}", "-i", local_ip, "-p", str(local_port),
               "-t", transport, "-m", str(calls), "-r", str(rate), "-timeout", f"{int(timeout)}", "-timeout_error",
               "-nostdin", "-key", "domain", domain or "127.0.0.1", "-d", "0", *args]
        if "user_agent" not in args:  # register_auth.xml's User-Agent, unless the test names one
            cmd += ["-key", "user_agent", "sipp-e2e"]
        if users is not None:
            inf = self.workdir / f"users-{time.monotonic_ns()}.csv"
            inf.write_text("SEQUENTIAL\n" + "".join(f"{u};[authentication username={u} password={p}]\n" for u, p in users))
            cmd += ["-inf", str(inf)]
        if background:
            return subprocess.Popen(cmd, cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True, timeout=timeout + 30)


def sipp_call(sw: Switch, callee_sip: int, callee_media: int, caller_media: int, *, talk_ms: int = 8500,
              ring_ms: int = 0) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """101 calls 102 (registered from ``callee_sip``), both SIPp, each sending the G.711 pcap
    from its media port, for ``talk_ms`` after the answer (given after ``ring_ms`` of ringing):
    (callee, caller), both running."""
    ringing = ("call_callee_late.xml", "-d", str(ring_ms)) if ring_ms else ("call_callee.xml",)
    callee = sw.sipp(*ringing, "-mp", str(callee_media), domain="acme.example", local_port=callee_sip,
                     background=True, timeout=40)
    assert isinstance(callee, subprocess.Popen)
    time.sleep(0.3)
    caller = sw.sipp("call_caller.xml", "-d", str(talk_ms), "-s", "102", "-au", "101", "-ap", "acme-101-secret",
                     "-mp", str(caller_media), users=[("101", "-")], domain="acme.example", timeout=40, background=True)
    assert isinstance(caller, subprocess.Popen)
    return callee, caller


def relayed(sw: Switch, leg: str, *, sent: bool = False) -> int:
    """Packets the relay took in from the phone on ``leg`` of the one live call (``sent``: sent
    to it); 0 before the call has media, or once it is gone."""
    live = admin(sw, "calls")
    legs = live[0]["legs"] if live else {}
    return int(str(legs[leg]).split("/")[1 if sent else 0]) if leg in legs else 0


def end_processes(procs: Iterable[subprocess.Popen[Any] | None], timeout: float = 30) -> None:
    """A test's clean-up: terminate the processes still running, and reap every one."""
    for proc in procs:
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout)


def udp_exchange(port: int, data: bytes, *, wait: float = 1.0, source: str = "127.0.0.1", expect: int = 1) -> list[bytes]:
    """Send one datagram; collect up to ``expect`` replies (fewer if none come within ``wait``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(wait)
        s.sendto(data, ("127.0.0.1", port))
        replies = []
        try:
            while len(replies) < expect:
                replies.append(s.recv(65535))
        except TimeoutError:
            pass
        return replies


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def options(port: int, source: str = "127.0.0.1", n: int = 0) -> int | None:
    msg = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {source}:9;branch=z9hG4bKping{n}{time.monotonic_ns()};rport\r\n"
        f"From: <sip:probe@{source}>;tag=p{n}\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: ping{n}-{time.monotonic_ns()}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    replies = udp_exchange(port, msg, source=source)
    return status_of(replies[0]) if replies else None




def admin(sw: Switch, command: str) -> Any:
    """Ask the running switch over its control socket (what ``softswitch calls --active`` uses)."""
    from softswitch.admin import query

    return query(str(sw.workdir / "softswitch.sock"), command)


def calls(sw: Switch, *args: str) -> list[dict[str, str]]:
    """``softswitch calls --csv`` as rows."""
    import csv
    import io

    out = sw.cli("calls", "--config", str(sw.config_path), "--csv", *args)
    assert out.returncode == 0, out.stderr
    return list(csv.DictReader(io.StringIO(out.stdout)))


def register(sw: Switch, ext: str, password: str, port: int, domain: str = "acme.example") -> None:
    """Register ``ext`` with SIPp from 127.0.0.1:``port`` (the binding outlives SIPp)."""
    result = sw.sipp("register_auth.xml", users=[(ext, password)], domain=domain, local_port=port)
    assert result.returncode == 0, result.stdout[-2000:]
