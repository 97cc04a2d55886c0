"""Soak (issue 13 item 6): the switch under an office's day, squeezed, with attackers, bounded.

The switch (pinned to CPU 0, the default ``security:`` limits, the phones' address trusted as an
office network would be) runs for ``--minutes`` (30) while, from CPU 1:
  * ``--phones`` (500) extensions register with digest credentials and refresh every 60 s
    (Expires 120) from one SIPp, which answers the calls to them (out-of-call scenario) and
    echoes their RTP;
  * registered extensions call one another at ``--rate`` (20) calls/s, each call ``--hold`` (30) s
    of G.711 RTP both ways through the relay (the caller plays a pcap, the callee echoes it);
  * every ``--park-every`` (20) s a park and pick-up: 1900 calls 1901, 1901 parks the call with
    REFER to ``*85``, 1902 dials the slot and talks to 1900 (the switch's `parked` view names
    the slot);
  * every ``--attack-every`` (600) s a flood from 127.0.0.3 (OPTIONS at 500/s for 20 s), and a
    minute later a scanner from 127.0.0.4 (sipvicious ``svwar`` enumerating 1000-1999 by REGISTER).
Every 10 s the switch's RSS and counters are sampled (the admin socket).

After the load, 40 s to settle, then checked and printed on one line:
  * zero failed calls, registrations and park cycles of the legitimate phones;
  * every flood answered <= 90 times (then silenced), the scanner answered too little to list
    an extension;
  * calls, relay sessions, relay ports and SIP transactions back to their baseline (taken after
    the phones registered, before the first call), no traceback and no ERROR in the log;
  * RSS flat after warm-up (the first ``--warmup`` (300) s): the highest sample after it at most
    10 % above the sample that ends it.
  scripts/soak [--minutes 30] [--phones 500] [--rate 20] [--hold 30] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import LOAD_CPU, _counter, free_media_port, free_port, log, pinned, start_softswitch, stop, tree_cpu_seconds

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from softswitch.admin import query  # noqa: E402  (the repo's own package, next to the scripts)

SCENARIOS = ROOT / "tests" / "e2e" / "scenarios"
BENCH = ROOT / "bench"
DOMAIN = "soak.example"
FIRST = 1000
PARTY, PARKER, PICKER = "1900", "1901", "1902"
FLOODER, SCANNER = "127.0.0.3", "127.0.0.4"
REFRESH_S = 60
MAX_FLOOD_ANSWERED = 90
SETTLE_S = 40
SAMPLE_S = 10
RSS_GROWTH = 1.10
PLAY_S = 5


def password(ext: str | int) -> str:
    return f"soak-{ext}-secret"


def credentials(users: list[str]) -> str:
    return "".join(f"{u};[authentication username={u} password={password(u)}]\n" for u in users)


def sipp(scenario: Path, port: int, workdir: Path, name: str, *args: str, source: str = "127.0.0.1",
         local_port: int | None = None, timeout: float = 60) -> subprocess.Popen[str]:
    """A bounded SIPp run in the background, pinned to the load CPU, its screen in ``name``.out."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = open(workdir / f"{name}.out", "w")  # noqa: SIM115 (the child keeps it; closed with the process)
    cmd = pinned(LOAD_CPU, [
        "sipp", "-sf", str(scenario), f"127.0.0.1:{port}", "-i", source, "-p", str(local_port or free_port()), "-t", "u1",
        "-timeout", str(int(timeout)), "-timeout_error", "-nostdin", "-key", "domain", DOMAIN, "-d", "0",
        "-trace_err", "-error_file", str(workdir / f"{name}.errors"), *args,
    ])
    return subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, text=True)


def finished(proc: subprocess.Popen[str], workdir: Path, name: str, timeout: float) -> tuple[int, int, int]:
    """Wait for a SIPp run: (exit code, successful calls, failed calls) from its last screen."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = (workdir / f"{name}.out").read_text(errors="replace")
    return proc.returncode, _counter(text, "Successful call"), _counter(text, "Failed call")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sample:
    t: float
    rss: float
    calls: int
    sessions: int
    transactions: int
    ports_in_use: int
    bindings: int
    packets_in: int  # RTP and RTCP the relay took in and sent on, over the sessions closed so far
    packets_out: int
    cpu: float  # the switch's CPU seconds so far
    delay_ms: float  # the overload guard's smoothed delay
    gc: dict[str, float]  # the collector's collections and pauses


@dataclass
class Soak:
    workdir: Path
    port: int
    pid: int
    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    park_failures: list[str] = field(default_factory=list)
    parks: int = 0

    def counters(self) -> dict[str, Any]:
        found: dict[str, Any] = query(str(self.workdir / "softswitch.sock"), "counters")
        return found

    def sample(self) -> Sample:
        c = self.counters()
        media = c["media"]
        s = Sample(time.monotonic() - self.started, rss_mb(self.pid), c["calls"]["active"], media["sessions"],
                   c["sip"].get("transactions", 0), media["ports_allocated"] - media["ports_released"],
                   c["registrar"].get("bindings", 0), media.get("packets_in", 0), media.get("packets_out", 0),
                   tree_cpu_seconds(self.pid), c["calls"].get("delay_ms", 0.0), c.get("gc", {}))
        self.samples.append(s)
        return s

    def park_cycle(self, n: int, parker_port: int) -> None:
        """1900 calls 1901, who parks the call; 1902 picks it up from the slot and talks 2 s."""
        where = self.workdir / "park" / str(n)
        sock = str(self.workdir / "softswitch.sock")
        before = {p["call"] for p in query(sock, "parked")}  # a failed cycle's call may still sit in its slot
        parker = sipp(SCENARIOS / "park_callee.xml", self.port, where, "parker", "-m", "2", "-s", PARKER,
                      "-key", "park", "*85", "-d", "500", "-mp", str(free_media_port()), local_port=parker_port)
        time.sleep(0.3)
        (where / "party.csv").write_text("SEQUENTIAL\n" + credentials([PARTY]))
        party = sipp(SCENARIOS / "park_caller.xml", self.port, where, "party", "-m", "1", "-s", PARKER, "-au", PARTY,
                     "-ap", password(PARTY), "-inf", str(where / "party.csv"), "-mp", str(free_media_port()), timeout=90)
        slot = None
        deadline = time.monotonic() + 15
        while slot is None and time.monotonic() < deadline:
            time.sleep(0.25)
            slot = next((p["slot"] for p in query(sock, "parked") if p["parker"] == PARKER and p["call"] not in before),
                        None)
        why = []
        if slot is None:
            why.append("not parked within 15 s")
        else:
            (where / "picker.csv").write_text("SEQUENTIAL\n" + credentials([PICKER]))
            picker = sipp(SCENARIOS / "call_caller.xml", self.port, where, "picker", "-m", "1", "-s", slot, "-au", PICKER,
                          "-ap", password(PICKER), "-d", "2000", "-inf", str(where / "picker.csv"), "-mp", str(free_media_port()))
            code, ok, _ = finished(picker, where, "picker", 60)
            if code != 0 or ok != 1:
                why.append(f"pick-up of {slot} failed (SIPp exit {code})")
        for proc, name in ((party, "party"), (parker, "parker")):
            code, _, failed = finished(proc, where, name, 60)
            if code != 0:
                why.append(f"{name} failed (SIPp exit {code}, {failed} failed)")
        self.parks += 1
        if why:
            self.park_failures.append(f"cycle {n}: " + ", ".join(why))
        else:
            shutil.rmtree(where, ignore_errors=True)


def config(workdir: Path, port: int, phones: int) -> dict[str, Any]:
    numbers = [str(FIRST + i) for i in range(phones)] + [PARTY, PARKER, PICKER]
    return {
        "server": {"listen": [{"transport": "udp", "address": "127.0.0.1", "port": port}]},
        "store": {"url": f"sqlite+aiosqlite:///{workdir}/soak.db"},
        "keepalive": {"mode": "off"},  # the answering SIPp takes INVITEs only
        "security": {"trusted_networks": ["127.0.0.1/32"]},  # the office; attackers come from elsewhere
        "admin": {"socket": str(workdir / "softswitch.sock")},
        "accounts": [{
            "name": "soak", "domain": DOMAIN, "default": True,
            "extensions": [{"number": n, "password": password(n)} for n in numbers],
        }],
    }


def scenario(workdir: Path, name: str, **values: int) -> Path:
    """A scenario of bench/ with its @NAME@ numbers filled in (SIPp takes no -key in attributes)."""
    text = (BENCH / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", str(value))
    path = workdir / name
    path.write_text(text)
    return path


def scan(port: int, workdir: Path, n: int) -> int:
    """sipvicious' extension scanner from 127.0.0.4: how many extensions it lists."""
    cmd = pinned(LOAD_CPU, ["svwar", "-b", SCANNER, "-p", str(port), "-e", "1000-1999", "-m", "REGISTER",
                            "--maximumtime", "20", "127.0.0.1"])
    try:
        done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=180)
        out = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or b""
        out = "(svwar stopped after 180 s) " + (partial.decode(errors="replace") if isinstance(partial, bytes) else partial)
    (workdir / f"scan-{n}.out").write_text(out)
    return len(re.findall(r"^\|\s*\d{4}\s*\|", out, re.M))


def media_of(history: str, phones: set[str]) -> dict[str, int]:
    """From the call history (``softswitch calls --csv``): the calls between the phones, those
    with a leg that sent nothing, and the packets lost (RTP sequence gaps) on their legs."""
    rows = [r for r in csv.DictReader(io.StringIO(history)) if r["caller"] in phones and r["callee"] in phones]
    silent = sum(1 for r in rows if not int(r["a_packets_in"] or 0) or not int(r["b_packets_in"] or 0))
    lost = sum(int(r["a_lost"] or 0) + int(r["b_lost"] or 0) for r in rows)
    return {"calls": len(rows), "silent": silent, "lost": lost}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--phones", type=int, default=500)
    parser.add_argument("--rate", type=int, default=20, help="calls/s between the phones")
    parser.add_argument("--hold", type=int, default=30, help="seconds each call lasts (RTP all along)")
    parser.add_argument("--park-every", type=float, default=20)
    parser.add_argument("--attack-every", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=300, help="seconds before RSS must stay flat")
    parser.add_argument("--keep", metavar="DIR", help="copy the switch's log and the SIPp runs there")
    args = parser.parse_args()
    if not 1 <= args.minutes <= 120 or not 10 <= args.phones <= 900 or not 1 <= args.rate <= 100:
        parser.error("bounded: --minutes 1-120, --phones 10-900, --rate 1-100")
    for tool, package in (("sipp", "sip-tester"), ("svwar", "sipvicious")):
        if shutil.which(tool) is None:
            log(f"{tool} is not installed (Debian: {package})")
            return 2
    seconds = int(args.minutes * 60)
    warmup = min(args.warmup, seconds / 3)
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    port, phones_media, parker_port = free_port(), free_media_port(), free_port()
    plays = max(1, round(args.hold / PLAY_S))  # the pcap, PLAY_S apart: the call's length
    total_calls = args.rate * (seconds - plays * PLAY_S - 5)  # every call ends within the soak
    proc = start_softswitch(workdir, config(workdir, port, args.phones))
    soak = Soak(workdir, port, proc.pid)
    load: list[subprocess.Popen[str]] = []
    floods: list[int] = []
    scans: list[int] = []
    ok = False
    try:
        users = [str(FIRST + i) for i in range(args.phones)]
        (workdir / "phones.csv").write_text("SEQUENTIAL\n" + credentials(users))
        rounds = seconds // REFRESH_S + 1
        registrar = sipp(scenario(workdir, "soak_register.xml", rounds=rounds, refresh_ms=REFRESH_S * 1000), port, workdir, "phones-register", "-m", str(args.phones),
                         "-l", str(args.phones), "-r", "50", "-inf", str(workdir / "phones.csv"),
                         # the phones' calls: answered by the out-of-call scenario, RTP echoed
                         "-oocsf", str(BENCH / "call_uas.xml"), "-rtp_echo", "-mp", str(phones_media),
                         "-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", str(phones_media), "-max_recv_loops", "5000",
                         timeout=seconds + 120)
        load.append(registrar)
        (workdir / "parker.csv").write_text("SEQUENTIAL\n" + credentials([PARKER]))
        parker_reg = sipp(SCENARIOS / "register_auth.xml", port, workdir, "parker-register", "-m", "1",
                          "-inf", str(workdir / "parker.csv"), local_port=parker_port)
        if finished(parker_reg, workdir, "parker-register", 60)[0] != 0:
            raise RuntimeError("1901 (the parker) did not register")
        deadline = time.monotonic() + 60
        while soak.counters()["registrar"].get("bindings", 0) < args.phones + 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the phones did not register within 60 s: {soak.counters()['registrar']}")
            time.sleep(0.5)
        time.sleep(2)
        soak.started = time.monotonic()
        baseline = soak.sample()
        log(f"registered {baseline.bindings} bindings; RSS {baseline.rss:.0f} MB; calling at {args.rate}/s "
            f"for {seconds} s ({total_calls} calls of {args.hold} s)")
        calls_csv = workdir / "calls.csv"
        calls_csv.write_text("SEQUENTIAL\n" + "".join(
            f"{u};[authentication username={u} password={password(u)}];{FIRST + (i * 7 + 13) % args.phones}\n"
            for i, u in enumerate(users)))
        caller = sipp(scenario(workdir, "soak_call.xml", plays=plays), port, workdir, "calls", "-m", str(total_calls), "-r", str(args.rate),
                      "-l", str(args.rate * (args.hold + 20)), "-inf", str(calls_csv), "-mp", str(free_media_port()),
                      "-max_recv_loops", "5000", timeout=seconds + 120)
        load.append(caller)

        stopping = threading.Event()

        def parks() -> None:
            n = 0
            while not stopping.wait(0 if n == 0 else args.park_every):
                n += 1
                soak.park_cycle(n, parker_port)

        parking = threading.Thread(target=parks, daemon=True)
        parking.start()
        attacks_done = 0
        attackers: list[threading.Thread] = []
        next_sample = 0.0
        while (elapsed := time.monotonic() - soak.started) < seconds:
            if elapsed >= 60 + attacks_done * args.attack_every and elapsed < seconds - 120:
                attacks_done += 1
                flood = sipp(SCENARIOS / "options_flood.xml", port, workdir, f"flood-{attacks_done}", "-m", "10000",
                             "-r", "500", "-nr", source=FLOODER, timeout=120)
                attackers.append(threading.Thread(target=lambda p=flood, k=attacks_done: floods.append(
                    finished(p, workdir, f"flood-{k}", 150)[1]), daemon=True))
                attackers.append(threading.Timer(60, lambda k=attacks_done: scans.append(scan(port, workdir, k))))
                attackers[-2].start()
                attackers[-1].start()
            if elapsed >= next_sample:
                last = soak.samples[-1]
                s = soak.sample()
                next_sample += SAMPLE_S
                cpu = 100 * (s.cpu - last.cpu) / max(1e-3, s.t - last.t)
                if int(elapsed) % 60 < SAMPLE_S or s.delay_ms > 100:
                    log(f"  {elapsed:.0f} s: RSS {s.rss:.0f} MB, CPU {cpu:.0f} %, delay {s.delay_ms:.0f} ms, "
                        f"full collections {s.gc.get('gen2_collections', 0):.0f} "
                        f"(longest {s.gc.get('gen2_pause_max_ms', 0):.0f} ms), calls {s.calls}, sessions {s.sessions}, "
                        f"transactions {s.transactions}, bindings {s.bindings}, parks {soak.parks} "
                        f"({len(soak.park_failures)} failed)")
            time.sleep(0.5)
        stopping.set()
        parking.join(120)
        for attacker in attackers:
            attacker.join(240)
        calls = finished(caller, workdir, "calls", args.hold + 120)
        regs = finished(registrar, workdir, "phones-register", REFRESH_S + 60)
        log(f"load over; settling {SETTLE_S} s")
        time.sleep(SETTLE_S)
        end = soak.sample()
        log_text = (workdir / "softswitch.log").read_text(errors="replace")
    finally:
        for p in load:
            if p.poll() is None:
                p.kill()
        stop(proc)
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock"))
    history = subprocess.run([sys.executable, "-m", "softswitch", "calls", "--config", "bench.yaml", "--csv"],
                             cwd=workdir, capture_output=True, text=True, timeout=300, check=True).stdout
    tracebacks = log_text.count("Traceback (most recent call last)")
    errors = len(re.findall(r"^\S+ \S+ (?:ERROR|CRITICAL) ", log_text, re.M))
    after_warmup = [s for s in soak.samples[1:] if s.t >= warmup]
    warm = min(after_warmup, key=lambda s: s.t) if after_warmup else end
    peak = max((s.rss for s in after_warmup), default=end.rss)
    relayed_in, relayed_out = end.packets_in - baseline.packets_in, end.packets_out - baseline.packets_out
    media = media_of(history, set(users))
    media_ok = (media["calls"] == calls[1] and media["silent"] == 0 and media["lost"] == 0
                and relayed_out >= 0.999 * relayed_in)
    back = (end.calls == 0 and end.sessions == 0 and end.ports_in_use == baseline.ports_in_use
            and end.transactions <= baseline.transactions + 2)
    ok = (calls[0] == 0 and calls[1] == total_calls and calls[2] == 0 and regs[0] == 0 and regs[1] == args.phones
          and not soak.park_failures and soak.parks > 0 and all(n <= MAX_FLOOD_ANSWERED for n in floods)
          and len(floods) == attacks_done and all(n == 0 for n in scans) and back and tracebacks == 0 and errors == 0
          and peak <= warm.rss * RSS_GROWTH and media_ok)
    print(f"soak softswitch {args.minutes:g} min: calls {calls[1]}/{total_calls} completed ({args.rate}/s, {args.hold} s "
          f"each with RTP both ways), {calls[2]} failed; {args.phones} phones refreshing every {REFRESH_S} s: "
          f"{regs[1]} completed, {regs[2]} failed; "
          f"relay took in {relayed_in:,} packets and sent on {relayed_out:,}; history: {media['calls']} calls between "
          f"the phones, {media['silent']} with a leg silent, {media['lost']} packets lost (RTP sequence); "
          f"parks {soak.parks - len(soak.park_failures)}/{soak.parks} parked and picked up; floods answered {floods} "
          f"(<= {MAX_FLOOD_ANSWERED} each); scanner listed {scans} extensions; after {SETTLE_S} s: calls {end.calls}, "
          f"sessions {end.sessions}, ports in use {end.ports_in_use} (baseline {baseline.ports_in_use}), transactions "
          f"{end.transactions} (baseline {baseline.transactions}); tracebacks {tracebacks}, errors {errors}; RSS "
          f"{baseline.rss:.0f} MB idle, {warm.rss:.0f} MB after {warm.t:.0f} s warm-up, peak after {peak:.0f} MB, "
          f"end {end.rss:.0f} MB: {'PASS' if ok else 'FAIL'}")
    for failure in soak.park_failures[:5]:
        log(f"  park {failure}")
    for line in re.findall(r"^.*overload: .*$", log_text, re.M)[:10]:  # when and why the switch shed calls
        log(f"  switch: {line}")
    if ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"kept: {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
