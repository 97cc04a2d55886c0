"""Capture RTP on loopback with tshark, to check what really crossed the wire (not what the
switch says it relayed)."""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .harness import require_tool


@dataclass
class Capture:
    path: Path
    ports: list[int]
    proc: subprocess.Popen[bytes] | None = None
    packets: list[tuple[str, int, str, int, int]] = field(default_factory=list)  # src, sport, dst, dport, seq
    streams: list[tuple[int, int, str, int]] = field(default_factory=list)  # sport, dport, SSRC, payload type
    payloads: dict[str, dict[int, bytes]] = field(default_factory=dict)  # SSRC -> seq -> RTP payload

    def __enter__(self) -> Capture:
        tshark = require_tool("tshark")
        bpf = "udp and (" + " or ".join(f"port {p}" for p in self.ports) + ")"
        self.proc = subprocess.Popen([tshark, "-i", "lo", "-f", bpf, "-w", str(self.path), "-q"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 15
        seen = b""
        while time.monotonic() < deadline and b"Capturing on" not in seen:
            seen += self.proc.stderr.readline()
        assert b"Capturing on" in seen, seen.decode(errors="replace")
        time.sleep(0.5)  # tshark says so a moment before its capture is live: the first packets went missing
        return self

    def __exit__(self, *_: object) -> None:
        assert self.proc is not None
        time.sleep(0.5)  # let the last packets reach the file
        self.proc.terminate()
        self.proc.wait(10)
        decode = [arg for p in self.ports for arg in ("-d", f"udp.port=={p},rtp")]
        out = subprocess.run(
            ["tshark", "-r", str(self.path), *decode, "-Y", "rtp", "-T", "fields",
             "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport", "-e", "rtp.seq",
             "-e", "rtp.ssrc", "-e", "rtp.p_type", "-e", "rtp.payload"],
            capture_output=True, text=True, timeout=60,
        )
        for line in out.stdout.splitlines():
            src, sport, dst, dport, seq, ssrc, pt, payload = line.split("\t")
            self.packets.append((src, int(sport), dst, int(dport), int(seq)))
            self.streams.append((int(sport), int(dport), ssrc, int(pt)))
            self.payloads.setdefault(ssrc, {})[int(seq)] = bytes.fromhex(payload.replace(":", ""))

    def sent_from(self, port: int) -> list[int]:
        """RTP sequence numbers sent from ``port``, in order."""
        return [seq for _, sport, _, _, seq in self.packets if sport == port]

    def received_at(self, port: int) -> list[int]:
        return [seq for _, _, _, dport, seq in self.packets if dport == port]

    def ssrcs(self, sport: int, dport: int) -> dict[str, int]:
        """Packets per SSRC from ``sport`` to ``dport`` (a relayed phone and a switch's own sound
        differ in SSRC)."""
        counts: dict[str, int] = defaultdict(int)
        for s, d, ssrc, _ in self.streams:
            if (s, d) == (sport, dport):
                counts[ssrc] += 1
        return dict(counts)

    def audio(self, ssrc: str) -> bytes:
        """The payloads of one stream joined in sequence order (a short stream: no wrap)."""
        stream = self.payloads.get(ssrc, {})
        return b"".join(stream[seq] for seq in sorted(stream))

    def flows(self) -> dict[tuple[int, int], int]:
        counts: dict[tuple[int, int], int] = defaultdict(int)
        for _, sport, _, dport, _ in self.packets:
            counts[(sport, dport)] += 1
        return dict(counts)
