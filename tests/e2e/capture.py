"""Capture RTP on loopback, to check what really crossed the wire (not what the switch says it
relayed).

A capture a test can count on, on a busy machine too: every packet sent on the captured ports
between entering and leaving the ``with`` block is in it, or the block fails saying so.  No
sleeps: dumpcap writes the capture to a pipe that a thread reads, and

  * on entry, a marker datagram (to a port of the capture's own, named in the filter) is sent
    until it comes back through the capture: from then on the capture is live;
  * on exit, an end marker is sent and awaited the same way: every packet sent before it has
    been read too (loopback hands a packet to the capture as it delivers it, before any process
    can read it, and the block's phones are done by then); only then is dumpcap stopped;
  * dumpcap's kernel buffer is large (``-B``), and its own count of dropped packets, printed
    when it stops, must be 0.

So counts taken from the capture are exact, and a missing packet is the switch's doing.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from .harness import require_tool

BUFFER_MIB = 32  # dumpcap's kernel buffer: tens of thousands of RTP packets, seconds of a stalled reader
MARKER_TIMEOUT = 20.0  # seconds for a marker to come back through the capture (dumpcap starting on a busy machine)


@dataclass
class Capture:
    path: Path
    ports: list[int]
    proc: subprocess.Popen[bytes] | None = None
    packets: list[tuple[str, int, str, int, int]] = field(default_factory=list)  # src, sport, dst, dport, seq
    streams: list[tuple[int, int, str, int]] = field(default_factory=list)  # sport, dport, SSRC, payload type
    payloads: dict[str, dict[int, bytes]] = field(default_factory=dict)  # SSRC -> seq -> RTP payload
    times: list[float] = field(default_factory=list)  # when each of ``packets`` was captured (epoch seconds)
    captured: int = 0  # packets dumpcap read, markers included
    dropped: int | None = None  # packets the kernel or dumpcap dropped (dumpcap's count when it stopped)

    def __post_init__(self) -> None:
        self._marks: set[bytes] = set()
        self._seen = threading.Condition()
        self._stderr = b""
        self._failed: BaseException | None = None

    def __enter__(self) -> Capture:
        dumpcap = require_tool("dumpcap")
        require_tool("tshark")  # to decode it afterwards
        self._marker = self._marker_socket()
        self._marker_port = self._marker.getsockname()[1]
        bpf = "udp and (" + " or ".join(f"port {p}" for p in [*self.ports, self._marker_port]) + ")"
        self.proc = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-f", bpf, "-B", str(BUFFER_MIB), "-P", "-w", "-"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._errors = threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True)
        self._reader.start()
        self._errors.start()
        try:
            self._mark("start")
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:  # the block went well: everything it sent must be in the capture
                self._mark("end")
        finally:
            self._stop()
        if exc_type is not None:
            return
        assert self.dropped == 0, f"the capture dropped {self.dropped} packets: {self._stderr.decode(errors='replace')}"
        decode = [arg for p in self.ports for arg in ("-d", f"udp.port=={p},rtp")]
        out = subprocess.run(
            ["tshark", "-r", str(self.path), *decode, "-Y", "rtp", "-T", "fields",
             "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport", "-e", "rtp.seq",
             "-e", "rtp.ssrc", "-e", "rtp.p_type", "-e", "rtp.payload", "-e", "frame.time_epoch"],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        for line in out.stdout.splitlines():
            src, sport, dst, dport, seq, ssrc, pt, payload, when = line.split("\t")
            self.packets.append((src, int(sport), dst, int(dport), int(seq)))
            self.times.append(float(when))
            self.streams.append((int(sport), int(dport), ssrc, int(pt)))
            self.payloads.setdefault(ssrc, {})[int(seq)] = bytes.fromhex(payload.replace(":", ""))

    # --- the live capture -------------------------------------------------------------------
    def _marker_socket(self) -> socket.socket:
        """A socket to receive (and discard) the markers, on an ephemeral port that is none of the
        test's ports nor next to one (a phone binds its media port and the few above it later)."""
        near = {p + d for p in self.ports for d in range(-3, 4)}
        for _ in range(50):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            if sock.getsockname()[1] not in near:
                return sock
            sock.close()
        raise RuntimeError("no port for the capture's markers")

    def _mark(self, what: str) -> None:
        """Send a marker until the capture has read it (resent: the first may precede the
        capture's start)."""
        mark = f"capture {what} {uuid.uuid4().hex}".encode()
        deadline = time.monotonic() + MARKER_TIMEOUT
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            while True:
                sender.sendto(mark, ("127.0.0.1", self._marker_port))
                with self._seen:
                    if self._seen.wait_for(lambda: mark in self._marks or self._failed is not None
                                           or not self._reader.is_alive(), timeout=0.1):
                        break
                if time.monotonic() > deadline:
                    break
        assert mark in self._marks, (f"the capture never saw its {what} marker: {self._failed!r} "
                                     f"{self._stderr.decode(errors='replace')}")

    def _read(self, stream: BinaryIO) -> None:
        """The capture, from dumpcap's pipe to the file, noting the markers as they pass."""
        try:
            with open(self.path, "wb") as out:
                header = stream.read(24)  # pcap: magic, version, zone, sigfigs, snaplen, link type
                out.write(header)
                if len(header) < 24:
                    return
                order: Literal["little", "big"] = "little" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else "big"
                ethernet = int.from_bytes(header[20:24], order) == 1
                while True:
                    record = stream.read(16)
                    if len(record) < 16:
                        return
                    data = stream.read(int.from_bytes(record[8:12], order))
                    out.write(record + data)
                    self.captured += 1
                    mark = self._marker_of(data if ethernet else b"")
                    if mark is not None:
                        with self._seen:
                            self._marks.add(mark)
                            self._seen.notify_all()
        except BaseException as exc:  # noqa: BLE001 - reported by the marker that waits in vain
            self._failed = exc
        finally:
            with self._seen:
                self._seen.notify_all()

    def _marker_of(self, frame: bytes) -> bytes | None:
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00" or frame[14 + 9] != socket.IPPROTO_UDP:
            return None
        udp = 14 + 4 * (frame[14] & 0x0F)
        if int.from_bytes(frame[udp + 2 : udp + 4], "big") != self._marker_port:
            return None
        return frame[udp + 8 :]

    def _drain(self, stream: BinaryIO) -> None:
        for line in stream:
            self._stderr += line

    def _stop(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(15)
        self._errors.join(15)
        self._marker.close()
        # "Packets received/dropped on interface 'Loopback: lo': 1331/0 (pcap:0/dumpcap:0/...)"
        counts = re.search(rb"received/dropped on interface .*?: (\d+)/(\d+)", self._stderr)
        self.dropped = int(counts.group(2)) if counts else None

    # --- what crossed the wire ------------------------------------------------------------------
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

    def count(self, *, sport: int | None = None, dport: int | None = None) -> int:
        """RTP packets from ``sport`` and/or to ``dport``: to set against the relay's own counters."""
        return sum(1 for _, s, _, d, _ in self.packets if sport in (None, s) and dport in (None, d))

    def when(self, *, sport: int | None = None, dport: int | None = None) -> list[float]:
        """When the RTP packets from ``sport`` and/or to ``dport`` crossed the wire, in order."""
        return [t for (_, s, _, d, _), t in zip(self.packets, self.times, strict=True) if sport in (None, s) and dport in (None, d)]
