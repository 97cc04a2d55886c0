"""What the switch asks of the kernel at start, on a running switch: its open files (openfiles.py:
started as a login shell would start it, with a soft limit of 1,024) and the caps on TCP
connections that follow; its UDP receive buffer past net.core.rmem_max."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Switch, admin, options, require_tool
from .test_streams import register_over


def limits_of(sw: Switch) -> tuple[int, int]:
    """The switch process's (soft, hard) open-file limits, from /proc."""
    assert sw.proc is not None
    for line in Path(f"/proc/{sw.proc.pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line in /proc/PID/limits")


def test_a_login_shells_limit_is_raised_to_what_the_relay_needs(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"this machine's hard limit ({hard}) leaves nothing to raise")
    sw = Switch(tmp_path, open_files=(1024, hard)).start()
    try:
        soft, _ = limits_of(sw)
        counters = admin(sw, "counters")
        pairs = counters["media"]["ports_pairs"]
        # The example's range (5,000 pairs: 10,000 sockets, and a recording each) and 4,096 connections,
        # or as much as the hard limit allows (and a warning).
        if pairs == 5000:
            assert soft >= 3 * 5000 + 4096
            assert "open files: limit raised from 1024" in sw.log()
        else:
            assert soft == hard and 3 * pairs < soft and "open files: at most" in sw.log()
    finally:
        sw.stop()


@contextlib.contextmanager
def connections(port: int, source: str, count: int) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.settimeout(5)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", port))
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_at_once(sock: socket.socket) -> bool:
    """The switch closed the connection without reading from it (EOF or a reset)."""
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_a_hard_limit_too_low_shrinks_the_port_pool_and_connection_cap_and_says_so(tmp_path: Path) -> None:
    sw = Switch(tmp_path, open_files=(400, 400)).start()
    try:
        log = sw.log()
        assert "open files: at most 400" in log, log
        counters = admin(sw, "counters")
        # 400 files: 256 kept aside, a quarter of the rest (36) for connections, 3 a port pair for the rest.
        assert counters["media"]["ports_pairs"] == 36
        assert limits_of(sw) == (400, 400)
        # The last tenth (3) of the cap is kept for trusted addresses: untrusted ones get 33.
        with connections(sw.port, "127.0.0.2", 33) as socks:
            sw.wait_for(lambda: admin(sw, "counters")["connections"]["open"] == 33, what="33 connections open")
            with connections(sw.port, "127.0.0.3", 1) as (extra,):
                assert closed_at_once(extra)
            assert admin(sw, "counters")["connections"]["refused_full"] == 1
            with connections(sw.port, "127.0.0.1", 3) as office:  # security.trusted_networks: the reserve
                assert register_over(office[-1], "TCP", "103", "acme-103-secret").startswith(b"SIP/2.0 200 ")
                with connections(sw.port, "127.0.0.1", 1) as (past,):  # and no further
                    assert closed_at_once(past)
            assert admin(sw, "counters")["connections"]["refused_full"] == 2
            socks[0].close()
            sw.wait_for(lambda: admin(sw, "counters")["connections"]["open"] == 32, what="connections gone")
            with connections(sw.port, "127.0.0.3", 1) as (extra,):  # room again
                assert register_over(extra, "TCP", "102", "acme-102-secret").startswith(b"SIP/2.0 200 ")
        assert "closed at once: 33 connections are open (transport.max_connections 36" in sw.log()
    finally:
        sw.stop()


def test_one_address_holds_at_most_its_share_of_connections_unless_trusted(tmp_path: Path) -> None:
    sw = Switch(tmp_path, overrides={"transport": {"max_connections_per_source": 3}}).start()
    try:
        with connections(sw.port, "127.0.0.2", 3) as socks:
            sw.wait_for(lambda: admin(sw, "counters")["connections"]["open"] == 3, what="three connections open")
            with connections(sw.port, "127.0.0.2", 1) as (fourth,):
                assert closed_at_once(fourth)
            with connections(sw.port, "127.0.0.3", 1) as (other,):  # another address has its own share
                assert register_over(other, "TCP", "103", "acme-103-secret").startswith(b"SIP/2.0 200 ")
            with connections(sw.port, "127.0.0.1", 5) as trusted:  # security.trusted_networks: no share
                assert register_over(trusted[-1], "TCP", "104", "acme-104-secret").startswith(b"SIP/2.0 200 ")
            assert register_over(socks[0], "TCP", "102", "acme-102-secret").startswith(b"SIP/2.0 200 ")  # unharmed
            counters = admin(sw, "counters")["connections"]
            assert counters["refused_per_source"] == 1 and counters["refused_full"] == 0
        assert "closed at once: 3 connections from one address are open" in sw.log()
        sw.wait_for(lambda: admin(sw, "counters")["connections"]["open"] == 0, what="the connections gone")
        sw.write_config(transport={"max_connections_per_source": 5})  # a reload applies a new share at once
        sw.signal(signal.SIGHUP)
        sw.wait_for(lambda: "config reloaded" in sw.log(), what="the reload")
        with connections(sw.port, "127.0.0.2", 5) as socks:
            assert register_over(socks[-1], "TCP", "102", "acme-102-secret").startswith(b"SIP/2.0 200 ")
        assert admin(sw, "counters")["connections"]["refused_per_source"] == 1
    finally:
        sw.stop()


def receive_buffer(port: int) -> int:
    """The kernel's receive buffer of the switch's UDP socket on ``port`` (ss's skmem rb)."""
    out = subprocess.run(["ss", "-u", "-a", "-n", "-m", "sport", "=", f":{port}"], capture_output=True, text=True,
                         check=True).stdout
    found = re.search(r"skmem:\(r\d+,rb(\d+),", out)
    assert found, out
    return int(found.group(1))


def rmem_max() -> int:
    path = Path("/proc/sys/net/core/rmem_max")
    if not path.exists():
        pytest.skip("no net.core.rmem_max to read here")
    return int(path.read_text())


def test_the_udp_receive_buffer_is_what_the_config_asks_past_the_kernels_cap(tmp_path: Path) -> None:
    require_tool("ss")
    cap = rmem_max()
    asked = 4 * cap  # past net.core.rmem_max, whatever this machine's is
    if asked > 268435456 or os.geteuid() != 0:
        pytest.skip("needs root (CAP_NET_ADMIN) and a net.core.rmem_max under 64 MiB")
    sw = Switch(tmp_path, overrides={"transport": {"udp_receive_buffer": asked}}).start()
    try:
        assert receive_buffer(sw.port) == 2 * asked  # SO_RCVBUFFORCE: root may go past the cap
        assert "receive buffer is" not in sw.log()
    finally:
        sw.stop()


def test_a_receive_buffer_the_kernel_caps_is_told_with_what_to_raise(tmp_path: Path) -> None:
    require_tool("ss")
    setpriv = require_tool("setpriv")
    cap = rmem_max()
    asked = 4 * cap
    if asked > 268435456:
        pytest.skip("net.core.rmem_max is over 64 MiB here")
    # Without CAP_NET_ADMIN, as a switch run by a plain user is.
    sw = Switch(tmp_path, overrides={"transport": {"udp_receive_buffer": asked}},
                prefix=(setpriv, "--inh-caps=-all", "--bounding-set=-net_admin")).start()
    try:
        assert receive_buffer(sw.port) == 2 * cap
        line = next(line for line in sw.log().splitlines() if "receive buffer is" in line)
        assert f"the kernel's receive buffer is {2 * cap} bytes, not the {2 * asked}" in line
        assert f"net.core.rmem_max is {cap}; raise it (sysctl -w net.core.rmem_max={asked})" in line
        assert options(sw.port) == 200  # and it serves all the same
    finally:
        sw.stop()
