"""Two nodes behind the shipped Kamailio edge (deploy/kamailio/kamailio.cfg), one PostgreSQL
store, started by scripts/cluster's own code: SIPp phones register through the edge, calls
connect whichever node took each phone's registration, routing's memory is one for both
nodes, and a node killed outright leaves the phones reachable through the other."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from softswitch.admin import query

from .harness import SCENARIOS, end_processes, free_port, require_tool
from .test_messages import udp_bound

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("SOFTSWITCH_TEST_PG_URL")
EDGE = "127.0.0.10"
NODES = {"a": "127.0.0.11", "b": "127.0.0.12"}
PASSWORDS = {n: f"acme-{n}-secret" for n in ("101", "102", "103", "104")}


@dataclass
class Cluster:
    workdir: Path
    port: int

    def script(self, *args: str) -> str:
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "lib" / "cluster.py"), *args, "--dir", str(self.workdir)],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def log(self, node: str) -> str:
        return (self.workdir / f"node-{node}.log").read_text(errors="replace")

    def node_of(self, extension: str) -> str | None:
        """The node whose log says it took ``extension``'s latest registration."""
        latest: tuple[str, str] | None = None
        for node in NODES:
            for stamp in re.findall(rf"^(\S+ \S+) INFO \S+ {extension}@acme registered ", self.log(node), re.MULTILINE):
                if latest is None or stamp > latest[0]:
                    latest = (stamp, node)
        return latest[1] if latest else None

    def at(self, node: str) -> str:
        """A node's own address, for a phone that talks to it directly rather than through the edge."""
        return f"{NODES[node]}:{self.port}"

    def sipp(self, scenario: str, *args: str, user: str | None = None, to: str | None = None, port: int = 0,
             timeout: float = 40, background: bool = False, calls: int = 1,
             ) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
        cmd = [require_tool("sipp"), "-sf", str(SCENARIOS / scenario), to or f"{EDGE}:{self.port}", "-i", "127.0.0.1",
               "-p", str(port), "-t", "u1", "-m", str(calls), "-nostdin", "-timeout", str(int(timeout)), "-timeout_error",
               "-key", "domain", "acme.example", "-key", "user_agent", "sipp-cluster", "-d", "0", *args]
        if user is not None:
            inf = self.workdir / f"user-{user}-{time.monotonic_ns()}.csv"
            inf.write_text(f"SEQUENTIAL\n{user};[authentication username={user} password={PASSWORDS[user]}]\n")
            cmd += ["-inf", str(inf), "-au", user, "-ap", PASSWORDS[user]]
        if background:
            return subprocess.Popen(cmd, cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True, timeout=timeout + 30)

    def register(self, extension: str, port: int, to: str | None = None) -> str:
        done = self.sipp("register_auth.xml", user=extension, port=port, to=to)
        assert done.returncode == 0, done.stdout[-2000:]
        deadline = time.monotonic() + 5
        while (node := self.node_of(extension)) is None:
            assert time.monotonic() < deadline, f"no node logged {extension}'s registration"
            time.sleep(0.05)
        return node

    def nodes(self) -> dict[str, str]:
        """``softswitch nodes``: each node's state."""
        out = subprocess.run([sys.executable, "-m", "softswitch", "nodes", "--config", str(self.workdir / "node-a.yaml")],
                             capture_output=True, text=True, timeout=60, cwd=self.workdir)
        assert out.returncode == 0, out.stderr
        return {line.split()[0]: line.split()[2] for line in out.stdout.splitlines()[1:] if line.split()[0] in NODES}

    def history(self) -> list[dict[str, str]]:
        import csv
        import io

        out = subprocess.run([sys.executable, "-m", "softswitch", "calls", "--config", str(self.workdir / "node-a.yaml"), "--csv"],
                             capture_output=True, text=True, timeout=60, cwd=self.workdir)
        assert out.returncode == 0, out.stderr
        return list(csv.DictReader(io.StringIO(out.stdout)))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    require_tool("kamailio")
    if not PG_URL:
        pytest.skip("!!! SOFTSWITCH_TEST_PG_URL is not set: scripts/test sets up PostgreSQL and sets it")
    c = Cluster(tmp_path, free_port())
    c.script("up", "--nodes", "2", "--port", str(c.port), "--probe", "1", "--store", PG_URL, "--fresh")
    yield c
    c.script("down")


def land_apart(cluster: Cluster, first: str, second: str, ports: dict[str, int]) -> dict[str, str]:
    """Register ``first``, then ``second`` until the edge's hash puts it on the other node (each
    REGISTER is a new Call-ID: a coin toss each time)."""
    where = {first: cluster.register(first, ports[first])}
    for _ in range(30):
        where[second] = cluster.register(second, ports[second])
        if where[second] != where[first]:
            return where
    raise AssertionError("30 registrations all landed on one node")


def test_phones_registered_on_different_nodes_call_each_other_through_the_edge(cluster: Cluster) -> None:
    assert cluster.nodes() == {"a": "up", "b": "up"}
    ports = {"101": free_port(), "102": free_port()}
    where = land_apart(cluster, "101", "102", ports)
    callee = cluster.sipp("proxied_callee.xml", "-mp", str(free_port()), port=ports["102"], background=True)
    assert isinstance(callee, subprocess.Popen)
    try:
        time.sleep(0.3)
        caller = cluster.sipp("proxied_caller.xml", "-s", "102", "-mp", str(free_port()), "-d", "6000",
                              user="101", port=ports["101"])
        callee_out, _ = callee.communicate(timeout=60)
    finally:
        end_processes([callee])
    assert caller.returncode == 0, caller.stdout[-2500:]
    assert callee.returncode == 0, callee_out[-2500:]
    # The call was taken by one node; the other phone was registered through the other one.
    (row,) = [r for r in cluster.history() if r["callee"] == "102"]
    taken_by = next(n for n in NODES if f"call {row['id']}" in cluster.log(n))
    assert {taken_by, where["101"], where["102"]} == set(NODES)
    assert (row["caller"], row["disposition"], row["hangup_by"], row["answered_by"]) == ("101", "answered", "caller", "102")
    assert 5 <= int(row["billed_seconds"]) <= 8
    for leg in ("a", "b"):  # RTP both ways through the node's relay (the pcap is 236 packets each way)
        assert int(row[f"{leg}_packets_in"]) > 200 and int(row[f"{leg}_packets_out"]) > 200
    # The phone's requests came through the edge, which the node trusts and names in the Path.
    log = cluster.log(where["102"])
    assert f"102@acme registered sip:102@127.0.0.1:{ports['102']};transport=UDP via UDP {EDGE}:{cluster.port}" in log


def test_round_robin_memory_continues_on_the_other_node(cluster: Cluster) -> None:
    """Group 600 (rrmemory: 102, 103): the first call, at node a, is answered by 102; the next,
    at node b, rings 103 first because node b knows who answered at node a."""
    ports = {n: free_port() for n in ("101", "102", "103")}
    for n in ("102", "103"):
        cluster.register(n, ports[n])
    for node, expected in (("a", "102"), ("b", "103")):
        callees = {n: cluster.sipp("proxied_callee.xml", "-mp", str(free_port()), port=ports[n], background=True, timeout=20)
                   for n in ("102", "103")}
        try:
            time.sleep(0.3)
            caller = cluster.sipp("proxied_caller.xml", "-s", "600", "-mp", str(free_port()), "-d", "1000", user="101",
                                  port=ports["101"], to=f"{NODES[node]}:{cluster.port}")
            assert caller.returncode == 0, caller.stdout[-2500:]
        finally:
            for proc in callees.values():
                proc.send_signal(signal.SIGTERM)
            end_processes(callees.values())
        rows = [r for r in cluster.history() if r["callee"] == "600"]
        assert rows[-1]["answered_by"] == expected, rows
        assert f"call {rows[-1]['id']}" in cluster.log(node)


def test_a_killed_node_leaves_every_phone_reachable_through_the_other(cluster: Cluster) -> None:
    """SIGKILL node a: the edge's probes take it out, new calls connect through node b, and
    phones that registered through node a are rung without registering again."""
    ports = {"101": free_port(), "102": free_port()}
    where = land_apart(cluster, "101", "102", ports)
    victim = where["102"] if where["102"] == "a" else where["101"]
    survivor = next(n for n in NODES if n != victim)
    # The survivor has heard of both registrations (a node killed within the moment it takes to
    # tell the others, 50 ms, takes its newest registrations with it until the phone refreshes).
    deadline = time.monotonic() + 10
    while query(str(cluster.workdir / f"node-{survivor}.sock"), "counters")["registrar"]["bindings"] < 2:
        assert time.monotonic() < deadline, "the survivor never heard of both phones"
        time.sleep(0.05)
    pids = yaml.safe_load((cluster.workdir / "pids.json").read_text())
    os.kill(pids[f"node-{victim}"], signal.SIGKILL)  # no wait: the edge fails a request over after 2 s unanswered
    for attempt in range(3):  # calls with new Call-IDs, each of which the edge hashed to the dead node before
        callee = cluster.sipp("proxied_callee.xml", "-mp", str(free_port()), port=ports["102"], background=True, timeout=20)
        assert isinstance(callee, subprocess.Popen)
        try:
            time.sleep(0.3)
            caller = cluster.sipp("proxied_caller.xml", "-s", "102", "-mp", str(free_port()), "-d", "500", user="101",
                                  port=ports["101"], timeout=20)
            callee_out, _ = callee.communicate(timeout=40)
        finally:
            end_processes([callee])
        assert caller.returncode == 0, f"call {attempt}: {caller.stdout[-2500:]}"
        assert callee.returncode == 0, callee_out[-2500:]
    answered = [r for r in cluster.history() if r["callee"] == "102" and r["disposition"] == "answered"]
    assert len(answered) == 3
    assert all(f"call {r['id']}" in cluster.log(survivor) for r in answered)
    # The dead node's address is free now: whoever sends from it is no node. An INVITE without the
    # cluster's signature is refused (403 while the address still counts as a node's, then the
    # challenge any phone gets), whatever it asks for (a call to a phone, or a slot).
    for dialled in ("102", "*801"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((NODES[victim], cluster.port))
            sock.settimeout(5)
            sock.sendto(forged_invite(dialled, NODES[victim], cluster.port), (NODES[survivor], cluster.port))
            replies = [sock.recv(65535)]
            while replies[-1].startswith(b"SIP/2.0 1"):  # a provisional answer first, perhaps
                replies.append(sock.recv(65535))
        assert replies[-1].startswith((b"SIP/2.0 403 ", b"SIP/2.0 407 ")), replies
    deadline = time.monotonic() + 15  # its beat stops: dead after cluster.dead_after (5 s here)
    while cluster.nodes() != {victim: "dead", survivor: "up"}:
        assert time.monotonic() < deadline, cluster.nodes()
        time.sleep(0.5)


def forged_invite(dialled: str, host: str, port: int) -> bytes:
    sdp = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\n"
    return (f"INVITE sip:{dialled}@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{time.monotonic_ns()}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=forged\r\nTo: <sip:{dialled}@acme.example>\r\n"
            f"Call-ID: forged-{time.monotonic_ns()}\r\nCSeq: 1 INVITE\r\nContact: <sip:{host}:{port}>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}").encode()


@pytest.mark.parametrize("drained", [False, True], ids=["", "node-a-draining"])
def test_a_call_parked_on_one_node_is_picked_up_at_the_other_and_its_lamp_lights_there(cluster: Cluster,
                                                                                        drained: bool) -> None:
    """102 parks 101's call on node a; a BLF key of 104 subscribed at node b sees the slot taken
    and freed; 103 dials *801 at node b, which calls node a, which hands the parked call over.
    Also while node a drains (an upgrade): its parked call is one of the calls that go on."""
    ports = {"102": free_port()}
    cluster.register("102", ports["102"], to=cluster.at("a"))
    lamp = cluster.sipp("blf_watch.xml", "-key", "slot", "*801", "-key", "slotdomain", "acme.example", user="104",
                        to=cluster.at("b"), background=True, timeout=60)
    assert isinstance(lamp, subprocess.Popen)
    parker = cluster.sipp("park_callee.xml", "-mp", str(free_port()), "-s", "102", "-key", "park", "*85", "-d", "500",
                          port=ports["102"], to=cluster.at("a"), background=True, timeout=60, calls=2)
    assert isinstance(parker, subprocess.Popen)
    try:
        deadline = time.monotonic() + 10
        while not udp_bound(ports["102"]):
            assert time.monotonic() < deadline and parker.poll() is None, "the parker's SIPp is not listening"
            time.sleep(0.05)
        party = cluster.sipp("park_caller.xml", "-s", "102", "-mp", str(free_port()), user="101", to=cluster.at("a"),
                             background=True, timeout=90)
        assert isinstance(party, subprocess.Popen)
        sock = str(cluster.workdir / "node-a.sock")
        deadline = time.monotonic() + 15
        while not query(sock, "parked"):
            assert time.monotonic() < deadline, "no call parked on node a"
            time.sleep(0.1)
        out, _ = parker.communicate(timeout=30)
        assert parker.returncode == 0, out[-2500:]
        if drained:
            drain = subprocess.run([sys.executable, "-m", "softswitch", "drain", "--config",
                                    str(cluster.workdir / "node-a.yaml")], capture_output=True, text=True, timeout=30)
            assert drain.returncode == 0, drain.stdout + drain.stderr
        picker = cluster.sipp("call_caller.xml", "-s", "*801", "-mp", str(free_port()), "-d", "6000", user="103",
                              to=cluster.at("b"), timeout=60)
        assert picker.returncode == 0, picker.stdout[-2500:]
        out, _ = party.communicate(timeout=40)
        assert party.returncode == 0, out[-2500:]
        out, _ = lamp.communicate(timeout=40)
        assert lamp.returncode == 0, out[-2500:]
    finally:
        end_processes([parker, lamp])
    rows = cluster.history()
    (parked,) = [r for r in rows if r["callee"] == "102"]
    assert (parked["park_slot"], parked["parked_by"], parked["retrieved_by"]) == ("*801", "102", "103")
    assert f"call {parked['id']}" in cluster.log("a")
    (via_b,) = [r for r in rows if r["callee"] == "*801" and r["caller"] == "103"]
    assert (via_b["disposition"], via_b["answered_by"]) == ("answered", "*801")
    assert "picks up *801, parked on node a" in cluster.log("b")
    for leg in ("a", "b"):  # the picker talked through node b's relay, then node a's
        assert int(via_b[f"{leg}_packets_in"]) > 150 and int(via_b[f"{leg}_packets_out"]) > 150
    if drained:  # its last call over, node a stopped
        deadline = time.monotonic() + 30
        while "drained: no call left, stopping" not in cluster.log("a"):
            assert time.monotonic() < deadline, cluster.log("a")[-3000:]
            time.sleep(0.2)
        return
    assert query(sock, "parked") == []
