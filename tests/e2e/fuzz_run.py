"""Mutation fuzzing against a running switch (issue 13 item 5; ``scripts/fuzz``, and a short run in
``test_fuzz.py``).

The switch runs as the e2e tests run it (``harness.Switch``: UDP and TCP on 127.0.0.1).  The
fuzzer's two addresses are in ``security.trusted_networks`` and the failed-authentication ban is
lifted: every message must reach the parser, not a per-source limit.  Phone 102 (127.0.0.22)
is registered and answers a call from 101 (127.0.0.21); both send RTP every 20 ms through the
relay for the whole run (``fuzz_phone``).  Then ``count`` mutated messages (``fuzz_mutate``) go
one at a time, 3/4 over UDP from 127.0.0.3 and 1/4 over TCP from 127.0.0.4 (a new connection
each, half-closed after the message):

* UDP: each message is followed by a good OPTIONS (the probe) on the same socket.  The switch
  reads its socket in order, so once the probe is answered the message has been handled.  The
  message was *answered* if a reply came for it (its token ``fz<n>q``, or none, in the reply),
  or *dropped and counted* if one of the switch's drop counters moved (``admin counters``, sip:
  ``dropped_*``, ``stray_responses``, ``keepalives``, ``udp_dropped``); anything else is
  *silent*.  A non-2xx final response to an INVITE is ACKed, as a phone would.
* TCP: *answered* if a response came back; if the switch closed the connection without one,
  *dropped and counted* if a drop counter moved, *closed* if the switch never saw a message (a
  framing error, or a message cut short by the end of the stream; neither is in ``counters``),
  and *silent* otherwise.
* Either way the answer, or the probe's answer, or the close, must come within 500 ms (*slow*
  otherwise; no sign of it within 5 s is a *hang*, and a switch gone is a *crash*).  The sip
  counter ``internal_errors`` must not move (an exception escaped a core).

Meanwhile, every ``check_every`` seconds: a good client on 127.0.0.9 sends OPTIONS (answered
within 500 ms), the live view (``admin calls``) must show both legs of the call still receiving
RTP, and the switch's RSS is sampled.  At the end: the switch is alive and answers OPTIONS, the
call is still up (no BYE reached either phone) and hangs up cleanly, both phones still get RTP,
no traceback in the log, and RSS grew by less than 50 MB.  One result line says it all;
messages that failed a check are saved (``--findings``) and can be made again (``--show N``).
"""

from __future__ import annotations

import argparse
import json
import re
import select
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .fuzz_mutate import TOKEN_RE, Case, Generator
from .fuzz_phone import Phone
from .harness import Switch, admin

FUZZ_UDP_HOST, FUZZ_TCP_HOST, CANARY_HOST = "127.0.0.3", "127.0.0.4", "127.0.0.9"
CALLER_HOST, CALLEE_HOST = "127.0.0.21", "127.0.0.22"
DEADLINE = 0.5  # each message answered, or handled, within this
HANG = 5.0  # no sign of the message after this: a hang
GRACE = 0.003  # after the probe's answer, for an answer the switch sends a moment later
RSS_LIMIT_KB = 50 * 1024
MEDIA_WINDOW = 1.0  # both legs' packet counts must grow over every window this long (50 packets/s each)
PROBE_RE = re.compile(rb"pr([0-9a-f]+)q")
# A request taken for a retransmission of an earlier one (same branch) is its transaction's to
# answer again, over the transport the first came on: counted as retransmissions.
DROP_KEYS = ("stray_responses", "keepalives", "udp_dropped", "send_failed_too_large", "stray_acks", "retransmissions")
IGNORED = ("transactions",)
# A request this large over UDP gets an error response that copies its oversized headers; a
# response larger than a datagram cannot be sent and is counted (``send_failed_too_large``).
# Found by this fuzzer; such messages are still told apart (``silent-oversize``) if silent.
OVERSIZE = 60000


# Finding kinds the script's verdict tolerates: none.  (An ACK is never answered, RFC 3261 §17,
# but one that matches nothing must still be counted when it is dropped.)
STRICT_TOLERATES: frozenset[str] = frozenset()


def counted(key: str) -> bool:
    return key.startswith("dropped") or key in DROP_KEYS


@dataclass
class Finding:
    kind: str  # silent, silent-oversize, slow, late, hang, crash, internal-error, tcp-open, unsendable
    case: Case
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.case.describe()}: {self.detail}"


@dataclass
class Result:
    seed: int
    count: int
    sent: int = 0
    udp: int = 0
    tcp: int = 0
    answered: int = 0
    dropped_counted: int = 0
    tcp_closed: int = 0
    silent: int = 0
    silent_acks: int = 0
    silent_oversize: int = 0
    slow: int = 0
    internal_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    drops: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    canary_sent: int = 0
    canary_answered: int = 0
    canary_max: float = 0.0
    alive: bool = True
    options_at_end: bool = False
    call_alive: bool = False
    hung_up: int | None = None
    media_packets: int = 0
    media_stalls: int = 0
    phone_rtp: tuple[int, int] = (0, 0)
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    rss_peak_kb: int = 0
    transactions_peak: int = 0
    seconds: float = 0.0
    out_of_time: bool = False
    exceptions_logged: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def max_latency(self) -> float:
        return max(self.latencies, default=0.0)

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0

    def failures(self, tolerate: frozenset[str] = frozenset()) -> list[str]:
        """The checks that failed, in words (empty: PASS); ``tolerate`` names finding kinds not to
        fail on (``silent-oversize``, ``silent-ack``)."""
        silent = self.silent - self.silent_oversize * ("silent-oversize" in tolerate) \
            - self.silent_acks * ("silent-ack" in tolerate)
        checks = [
            (self.sent == self.count, f"sent {self.sent} of {self.count}"),
            (self.alive, "the switch died"),
            (self.options_at_end, "OPTIONS at the end unanswered"),
            (self.slow == 0, f"{self.slow} messages answered or handled later than {DEADLINE * 1000:.0f} ms"),
            (silent == 0, f"{silent} messages neither answered nor counted as dropped ({self.silent_acks} ACKs, "
             f"{self.silent_oversize} of {OVERSIZE} bytes or more)"),
            (self.internal_errors == 0, f"{self.internal_errors} messages raised an internal error"),
            (self.exceptions_logged == 0, f"{self.exceptions_logged} tracebacks in the switch's log"),
            (self.canary_answered == self.canary_sent, f"good client: {self.canary_sent - self.canary_answered} "
             f"of {self.canary_sent} OPTIONS unanswered within {DEADLINE * 1000:.0f} ms"),
            (self.call_alive, "the call did not survive"),
            (self.hung_up == 200, f"the BYE at the end got {self.hung_up}"),
            (self.media_stalls == 0 and self.media_packets > 0, f"media stalled {self.media_stalls} times "
             f"({self.media_packets} packets relayed)"),
            (min(self.phone_rtp) > 0, f"phones' RTP at the end: {self.phone_rtp}"),
            (self.rss_after_kb - self.rss_before_kb < RSS_LIMIT_KB,
             f"RSS grew {(self.rss_after_kb - self.rss_before_kb) // 1024} MB"),
        ]
        return [what for ok, what in checks if not ok]

    @property
    def ok(self) -> bool:
        return not self.failures(STRICT_TOLERATES)

    def line(self) -> str:
        drops = ", ".join(f"{k} {v}" for k, v in self.drops.most_common())
        return (f"fuzz seed {self.seed}: {self.sent}/{self.count} messages ({self.udp} UDP, {self.tcp} TCP) in "
                f"{self.seconds:.0f} s{' (time limit hit)' if self.out_of_time else ''}: answered {self.answered}, "
                f"dropped-counted {self.dropped_counted} ({drops or 'none'}), TCP closed unanswered {self.tcp_closed}, "
                f"silent {self.silent} (ACKs {self.silent_acks}, oversize {self.silent_oversize}), slow {self.slow}, internal errors {self.internal_errors}, "
                f"tracebacks {self.exceptions_logged}; max latency {self.max_latency * 1000:.1f} ms "
                f"(p99 {self.p99() * 1000:.1f} ms); good client OPTIONS {self.canary_answered}/{self.canary_sent} "
                f"answered (max {self.canary_max * 1000:.1f} ms), at the end {'yes' if self.options_at_end else 'NO'}, "
                f"switch {'alive' if self.alive else 'DEAD'}; call {'up' if self.call_alive else 'DOWN'} "
                f"(BYE at the end: {self.hung_up}), media {self.media_packets} packets relayed during the run "
                f"(stalls {self.media_stalls}; phones got {self.phone_rtp[0]}/{self.phone_rtp[1]}); "
                f"RSS {self.rss_before_kb // 1024} -> {self.rss_after_kb // 1024} MB (peak {self.rss_peak_kb // 1024}, "
                f"transactions peak {self.transactions_peak}): {'PASS' if self.ok else 'FAIL'}")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def probe(n: int, host: str, port: int, server_port: int) -> bytes:
    return (f"OPTIONS sip:127.0.0.1:{server_port} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bKpr{n:x}q\r\n"
            f"From: <sip:probe@{host}>;tag=pr{n:x}q\r\nTo: <sip:127.0.0.1:{server_port}>\r\nCall-ID: pr{n:x}q\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def _header(reply: bytes, *names: bytes) -> bytes | None:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in names:
            return value.strip()
    return None


def ack_for(reply: bytes) -> bytes | None:
    """The ACK a phone sends for a non-2xx final response to its INVITE (RFC 3261 §17.1.1.3)."""
    parts = reply.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) < 300:
        return None
    via, from_, to, call_id, cseq = (_header(reply, *n) for n in (
        (b"via", b"v"), (b"from", b"f"), (b"to", b"t"), (b"call-id", b"i"), (b"cseq",)))
    if via is None or from_ is None or to is None or call_id is None or cseq is None:
        return None
    if not cseq.upper().endswith(b"INVITE") or not cseq.split():
        return None
    return (b"ACK sip:fuzz@127.0.0.1 SIP/2.0\r\nVia: " + via + b"\r\nFrom: " + from_ + b"\r\nTo: " + to
            + b"\r\nCall-ID: " + call_id + b"\r\nCSeq: " + cseq.split()[0]
            + b" ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def is_ack_request(data: bytes) -> bool:
    return data.lstrip(b"\r\n\t ")[:4].upper() in (b"ACK ", b"ACK\t")


def status(reply: bytes) -> str:
    parts = reply.split(b" ", 2)
    return parts[1].decode("latin-1")[:3] if len(parts) > 1 and parts[0] == b"SIP/2.0" else "?"


class Fuzzer:
    """Sends one case at a time and judges it (see the module's docstring)."""

    def __init__(self, switch: Switch, generator: Generator, result: Result) -> None:
        self.switch = switch
        self.gen = generator
        self.result = result
        self.server = ("127.0.0.1", switch.port)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.udp.bind((FUZZ_UDP_HOST, 0))
        self.udp_port = self.udp.getsockname()[1]
        self.canary_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.canary_socket.bind((CANARY_HOST, 0))
        self.sent_at: dict[int, float] = {}  # silent messages by number (when sent), for late answers
        self.replies: dict[int, None] = {}  # recent replies (hashes), to tell retransmissions
        self.t0 = 0.0
        self.counters = self.sip_counters()

    def close(self) -> None:
        self.udp.close()
        self.canary_socket.close()

    def sip_counters(self) -> dict[str, int]:
        """The endpoint's counters, and the call service's count of ACKs matching nothing."""
        every = admin(self.switch, "counters")
        sip: dict[str, int] = dict(every["sip"], stray_acks=every["calls"]["stray_acks"])
        return sip

    def _counter_delta(self) -> dict[str, int]:
        now = self.sip_counters()
        delta = {k: v - self.counters.get(k, 0) for k, v in now.items()
                 if v != self.counters.get(k, 0) and k not in IGNORED}
        self.result.transactions_peak = max(self.result.transactions_peak, now.get("transactions", 0))
        self.counters = now
        return delta

    # --- one message ----------------------------------------------------------------------
    def send(self, case: Case) -> None:
        r = self.result
        r.sent += 1
        if case.transport == "UDP":
            r.udp += 1
            unanswered = self._udp(case)
        else:
            r.tcp += 1
            unanswered = self._tcp(case)
        delta = self._counter_delta()
        if unanswered:  # handled and not answered: a drop the switch must count
            drops = [k for k in delta if counted(k)]
            if drops:
                r.dropped_counted += 1
                r.drops.update(drops)
            elif case.transport == "TCP" and not delta.get("received"):
                r.tcp_closed += 1  # never a message: a framing error, or one cut short by the end of the stream
            else:
                self._silent(case, {k: v for k, v in delta.items() if k != "received"})
        if delta.get("internal_errors"):
            r.internal_errors += 1
            r.findings.append(Finding("internal-error", case, f"counters {delta}"))

    def _silent(self, case: Case, delta: dict[str, int]) -> None:
        r = self.result
        r.silent += 1
        if case.transport == "UDP":
            self.sent_at[case.n] = self.t0  # its answer may still come
        if is_ack_request(case.data):
            r.silent_acks += 1
            return
        kind = "silent-oversize" if len(case.data) >= OVERSIZE and case.transport == "UDP" else "silent"
        r.silent_oversize += kind == "silent-oversize"
        r.findings.append(Finding(kind, case, f"no answer and no drop counted ({delta or 'no counter moved'})"))

    def _udp(self, case: Case) -> bool:
        """Send ``case`` and its probe; True if it was handled but not answered."""
        r = self.result
        t0 = self.t0 = time.monotonic()
        try:
            self.udp.sendto(case.data, self.server)
        except OSError as exc:
            r.findings.append(Finding("unsendable", case, repr(exc)))
            return False
        self.udp.sendto(probe(case.n, FUZZ_UDP_HOST, self.udp_port, self.switch.port), self.server)
        answer_at: float | None = None
        probe_at: float | None = None
        while True:
            now = time.monotonic()
            if probe_at is not None and (answer_at is not None or now > probe_at + GRACE):
                break
            if now > t0 + HANG:
                break
            ready, _, _ = select.select([self.udp], [], [], GRACE if probe_at is not None else 0.05)
            if not ready:
                if probe_at is None and now - t0 > 1.0 and not self.switch.alive():
                    break
                continue
            while True:
                try:
                    reply = self.udp.recv(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                at = time.monotonic()
                m = PROBE_RE.search(reply[:2000])
                if m is not None and _header(reply, b"call-id", b"i") == m.group(0):
                    if int(m.group(1), 16) == case.n:
                        probe_at = at
                    continue
                if self._on_reply(reply, case.n, at) and answer_at is None:
                    answer_at = at
                    r.statuses[status(reply)] += 1
        if answer_at is not None:
            r.answered += 1
            r.latencies.append(answer_at - t0)
            return False
        if probe_at is None:
            alive = self.switch.alive()
            r.findings.append(Finding("hang" if alive else "crash", case, f"probe unanswered after {time.monotonic() - t0:.1f} s"))
            r.slow += 1
            r.alive = alive
            r.latencies.append(time.monotonic() - t0)
            return False
        r.latencies.append(probe_at - t0)
        if probe_at - t0 > DEADLINE:
            r.slow += 1
            r.findings.append(Finding("slow", case, f"handled after {(probe_at - t0) * 1000:.0f} ms"))
        return True

    def _on_reply(self, reply: bytes, n: int, at: float) -> bool:
        """A reply that is not a probe's: True if it answers message ``n``."""
        ack = ack_for(reply)
        if ack is not None:
            self.udp.sendto(ack, self.server)
        tokens = {int(t, 16) for t in TOKEN_RE.findall(reply)}
        if tokens:  # replies naming no message can be the same bytes for two of them
            digest = hash(reply)
            if digest in self.replies:  # a retransmission (a final response whose ACK did not match)
                return False
            self.replies[digest] = None
            if len(self.replies) > 5000:
                del self.replies[next(iter(self.replies))]
        late = [j for j in tokens if j in self.sent_at] if n not in tokens else []
        if not late:
            return True  # its token, none, or one a mutation damaged
        j = late[0]  # an answer to an earlier message, after all
        delay = at - self.sent_at.pop(j)
        r = self.result
        r.answered += 1
        r.silent -= 1
        earlier = self.gen.case(j)
        r.silent_acks -= is_ack_request(earlier.data)
        r.silent_oversize -= any(f.kind == "silent-oversize" and f.case.n == j for f in r.findings)
        r.findings = [f for f in r.findings if not (f.kind.startswith("silent") and f.case.n == j)]
        r.latencies.append(delay)
        if delay > DEADLINE:
            r.slow += 1
            r.findings.append(Finding("late", earlier, f"answered after {delay * 1000:.0f} ms"))
        if len(self.sent_at) > 1000:  # only recent ones can still be answered
            for old in sorted(self.sent_at)[:500]:
                del self.sent_at[old]
        return False

    def _tcp(self, case: Case) -> bool:
        """Send ``case`` on a new connection and half-close it; True if the switch closed it
        without an answer."""
        r = self.result
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # no TIME_WAIT for 25,000 of them
        got = b""
        answer_at = closed_at = None
        try:
            s.bind((FUZZ_TCP_HOST, 0))
            s.settimeout(2.0)
            s.connect(self.server)
            t0 = time.monotonic()
            try:
                s.sendall(case.data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the switch closed first (a framing error before the end of a long message)
            while time.monotonic() - t0 < HANG:
                ready, _, _ = select.select([s], [], [], 0.05)
                if not ready:
                    if got and time.monotonic() - t0 > DEADLINE:
                        break
                    continue
                try:
                    chunk = s.recv(65535)
                except OSError:
                    chunk = b""
                if not chunk:
                    closed_at = time.monotonic()
                    break
                if answer_at is None:
                    answer_at = time.monotonic()
                got += chunk
        finally:
            s.close()
        unanswered = False
        if answer_at is not None and got.lstrip(b"\r\n").startswith(b"SIP/2.0 "):
            r.answered += 1
            r.statuses[status(got.lstrip(b"\r\n"))] += 1
            latency = answer_at - t0
        elif closed_at is not None:
            unanswered = True
            latency = closed_at - t0
        else:
            latency = time.monotonic() - t0
            r.findings.append(Finding("tcp-open", case, f"no answer and still open after {latency:.1f} s ({got[:60]!r})"))
        r.latencies.append(latency)
        if latency > DEADLINE:
            r.slow += 1
            r.findings.append(Finding("slow", case, f"TCP answer or close after {latency * 1000:.0f} ms"))
        return unanswered

    # --- the good client ------------------------------------------------------------------
    def canary(self, n: int) -> float | None:
        """OPTIONS from a well-behaved client: seconds to its 200, None if none within 500 ms."""
        port = self.canary_socket.getsockname()[1]
        msg = (f"OPTIONS sip:127.0.0.1:{self.switch.port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {CANARY_HOST}:{port};branch=z9hG4bKgc{n}\r\n"
               f"From: <sip:canary@{CANARY_HOST}>;tag=gc{n}\r\nTo: <sip:127.0.0.1:{self.switch.port}>\r\nCall-ID: gc{n}\r\n"
               "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
        t0 = time.monotonic()
        self.canary_socket.sendto(msg, self.server)
        answered = None
        while time.monotonic() - t0 < DEADLINE:
            ready, _, _ = select.select([self.canary_socket], [], [], DEADLINE)
            if ready:
                reply = self.canary_socket.recv(65535)
                if f"Call-ID: gc{n}\r\n".encode() in reply and reply.startswith(b"SIP/2.0 200 "):
                    answered = time.monotonic() - t0
                    break
        self.counters = self.sip_counters()  # the next message's counters start after this one
        return answered


def legs_in(switch: Switch) -> tuple[int, int] | None:
    """Packets the relay got on each leg of the call 101 -> 102, from the live view."""
    for call in admin(switch, "calls"):
        if call["state"] == "answered" and call["caller"] == "101" and call["callee"] == "102":
            legs = call["legs"]
            if "a" in legs and "b" in legs:
                return int(legs["a"].split("/")[0]), int(legs["b"].split("/")[0])
    return None


def run(count: int, seed: int, workdir: Path, *, max_seconds: float = 3600, start: int = 0, tcp_share: float = 0.25,
        check_every: float = 1.0, progress: bool = False) -> Result:
    """Start a switch in ``workdir``, set up the call, send messages ``start`` .. ``start + count``
    and check as the module says; the switch is stopped before this returns."""
    result = Result(seed, count)
    gen = Generator(seed, tcp_share=tcp_share)
    switch = Switch(workdir)
    # RTP ports of its own: above the 10000-20000 other switches on this machine may be using, the
    # ports the tests hand out (harness.free_port) and the kernel's ephemeral ports.
    media_min = 61000 + 2 * (switch.port % 2000)
    switch.overrides = {
        "security": {"ban_threshold": 100000,
                     "trusted_networks": ["127.0.0.1/32", f"{FUZZ_UDP_HOST}/32", f"{FUZZ_TCP_HOST}/32"]},
        "media": {"port_min": media_min, "port_max": media_min + 200},
    }
    switch.start()
    assert switch.proc is not None
    pid = switch.proc.pid
    caller = Phone("101", "acme-101-secret", CALLER_HOST, ("127.0.0.1", switch.port))
    callee = Phone("102", "acme-102-secret", CALLEE_HOST, ("127.0.0.1", switch.port))
    fuzzer = None
    began = time.monotonic()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the phones' thread sends RTP every 20 ms while this one fuzzes
    try:
        callee.register()
        caller.register()
        callee.answer()
        caller.call("102")
        switch.wait_for(lambda: min(legs_in(switch) or (0, 0)) > 5, what="RTP on both legs")
        media_start = last_media = legs_in(switch) or (0, 0)
        rx_start = (caller.rtp_received, callee.rtp_received)
        result.rss_before_kb = result.rss_peak_kb = rss_kb(pid)
        fuzzer = Fuzzer(switch, gen, result)
        began = last_media_at = time.monotonic()
        next_check, next_report = began + check_every, began + 10.0
        for n in range(start, start + count):
            fuzzer.send(gen.case(n))
            if not result.alive:
                break
            now = time.monotonic()
            if now >= next_check:
                next_check = now + check_every
                if not switch.alive():
                    result.alive = False
                    result.findings.append(Finding("crash", gen.case(n), "the switch exited after this message"))
                    break
                result.canary_sent += 1
                latency = fuzzer.canary(result.canary_sent)
                if latency is not None:
                    result.canary_answered += 1
                    result.canary_max = max(result.canary_max, latency)
                result.rss_peak_kb = max(result.rss_peak_kb, rss_kb(pid))
                media = legs_in(switch)
                if media is None:
                    result.media_stalls += 1
                elif now - last_media_at >= MEDIA_WINDOW:
                    if media[0] <= last_media[0] or media[1] <= last_media[1]:
                        result.media_stalls += 1
                    last_media, last_media_at = media, now
            if progress and now >= next_report:
                next_report = now + 10.0
                done = n + 1 - start
                print(f"  {done} sent ({done / (now - began):.0f}/s): {result.answered} answered, "
                      f"{result.dropped_counted} dropped-counted, {result.tcp_closed} TCP closed, {result.silent} silent, "
                      f"{len(result.findings)} findings; RSS {rss_kb(pid) // 1024} MB, "
                      f"{fuzzer.counters.get('transactions', 0)} transactions", file=sys.stderr, flush=True)
            if now - began > max_seconds:
                result.out_of_time = True
                break
        result.seconds = time.monotonic() - began
        result.alive = result.alive and switch.alive()
        if result.alive:
            time.sleep(0.3)
            result.rss_after_kb = rss_kb(pid)
            result.rss_peak_kb = max(result.rss_peak_kb, result.rss_after_kb)
            end_media = legs_in(switch)
            result.call_alive = end_media is not None and not caller.bye_received and not callee.bye_received
            if end_media is not None:
                result.media_packets = sum(end_media) - sum(media_start)
            result.options_at_end = fuzzer.canary(0) is not None
            recent = time.monotonic() - 1.0
            result.phone_rtp = (caller.rtp_received - rx_start[0] if caller.last_rtp_at > recent else 0,
                                callee.rtp_received - rx_start[1] if callee.last_rtp_at > recent else 0)
            result.hung_up = caller.hang_up()
            switch.wait_for(lambda: callee.bye_received, timeout=5, what="the BYE at the callee")
    finally:
        sys.setswitchinterval(switch_interval)
        if fuzzer is not None:
            fuzzer.close()
        caller.close()
        callee.close()
        result.exceptions_logged = switch.log().count("Traceback")
        switch.stop()
    if not result.seconds:
        result.seconds = time.monotonic() - began
    return result


def save_findings(result: Result, where: Path, per_kind: int = 200) -> None:
    """Each finding's message as ``<n>-<kind>-<transport>.sip`` (byte-exact) and a line in index.txt."""
    where.mkdir(parents=True, exist_ok=True)
    kept: Counter[str] = Counter()
    with open(where / "index.txt", "a") as index:
        for f in result.findings:
            kept[f.kind] += 1
            if kept[f.kind] > per_kind:
                continue
            name = f"{f.case.n:06d}-{f.kind}-{f.case.transport.lower()}.sip"
            (where / name).write_bytes(f.case.data)
            index.write(f"{name}\t{f.line()}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100000, help="messages to send")
    parser.add_argument("--seed", type=int, default=1, help="the run: message n is the same for the same seed")
    parser.add_argument("--start", type=int, default=0, help="first message number")
    parser.add_argument("--max-seconds", type=float, default=3600, help="stop sending after this long")
    parser.add_argument("--tcp-share", type=float, default=0.25)
    parser.add_argument("--findings", type=Path, help="save messages that failed a check here (default: a temp dir)")
    parser.add_argument("--keep", type=Path, help="copy the switch's workdir (log, config) here")
    parser.add_argument("--show", type=int, metavar="N", help="print message N of the seed and exit")
    parser.add_argument("--raw", action="store_true", help="with --show: the bytes as they are, nothing else")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.show is not None:
        case = Generator(args.seed, tcp_share=args.tcp_share).case(args.show)
        if args.raw:
            sys.stdout.buffer.write(case.data)
        else:
            print(case.describe())
            print(repr(case.data))
        return 0
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        result = run(args.count, args.seed, Path(tmp), max_seconds=args.max_seconds, start=args.start,
                     tcp_share=args.tcp_share, progress=not args.quiet)
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock"))
    if result.findings:
        where = args.findings or Path(tempfile.mkdtemp(prefix=f"fuzz-findings-{args.seed}-"))
        save_findings(result, where)
        kinds = Counter(f.kind for f in result.findings)
        print(f"findings {json.dumps(dict(kinds))} saved in {where}; the first ones:", file=sys.stderr)
        for f in result.findings[:10]:
            print(f"  {f.line()[:400]}", file=sys.stderr)
    for failure in result.failures(STRICT_TOLERATES):
        print(f"FAILED: {failure}", file=sys.stderr)
    print(result.line())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
