"""rtpengine (Debian's rtpengine-daemon) for the tests: userspace forwarding only (no kernel
module: ``--table=-1``), on loopback, in the foreground, stopped with its test."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from softswitch.media.ng import NgClient, NgError

from .harness import free_port, require_tool

PORT_MIN, PORT_MAX = 31200, 31999  # its RTP ports: above the tests' SIP and media ports


@dataclass
class Rtpengine:
    workdir: Path
    control: int = field(default_factory=free_port)
    dtmf: int = field(default_factory=free_port)  # where it logs key presses (the switch reads them)
    cli: int = field(default_factory=free_port)  # its command line's TCP port (2224 unless told)
    options: tuple[str, ...] = ()  # more of its command line (``--timeout=4``)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Rtpengine:
        binary = require_tool("rtpengine")
        log = (self.workdir / "rtpengine.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "--config-file=none", "--foreground", "--log-stderr", "--table=-1", "--interface=127.0.0.1",
             f"--listen-ng=127.0.0.1:{self.control}", f"--port-min={PORT_MIN}", f"--port-max={PORT_MAX}",
             f"--dtmf-log-dest=127.0.0.1:{self.dtmf}", f"--listen-cli=127.0.0.1:{self.cli}", "--log-level=6",
             "--delete-delay=0", *self.options],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.request("ping")
                return self
            except NgError:
                assert self.proc.poll() is None, self.log()
        raise AssertionError(f"rtpengine did not answer ping:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log(self) -> str:
        return (self.workdir / "rtpengine.log").read_text(errors="replace")

    def request(self, command: str, **fields: Any) -> dict[str, Any]:
        """One ng request from the test (its own client: what anyone can see of rtpengine)."""
        async def ask() -> dict[str, Any]:
            client = NgClient("127.0.0.1", self.control, timeout=0.5, attempts=2)
            await client.start()
            try:
                return await client.request(command, **fields)
            finally:
                client.close()

        return asyncio.run(ask())

    @property
    def media(self) -> dict[str, Any]:
        """The switch's media settings for this rtpengine."""
        return {"engine": "rtpengine", "rtpengine": f"udp:127.0.0.1:{self.control}",
                "rtpengine_dtmf": f"127.0.0.1:{self.dtmf}"}
