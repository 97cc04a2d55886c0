"""scripts/cluster: a Kamailio edge and N softswitch nodes on one PostgreSQL store, on loopback
addresses (the edge on 127.0.0.10, node i on 127.0.0.(11+i)), for tests and demos.

  cluster.py up --dir DIR [--nodes 2] [--port 5060] [--config config/example.yaml] --store URL [--fresh]
  cluster.py down --dir DIR
  cluster.py status --dir DIR

``up`` writes each node's config (the given config with its own listen and media address,
the shared store and ``cluster:``), the edge's dispatcher list, starts them all in the
background and returns once each is ready; ``down`` stops what ``up`` started (SIGTERM, then
SIGKILL after 15 s).  Nothing runs longer than its caller wants: ``down`` (or the test's
fixture) ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KAMAILIO_CFG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
EDGE = "127.0.0.10"
NAMES = "abcdefghij"


def node_address(i: int) -> str:
    return f"127.0.0.{11 + i}"


def node_config(base: dict[str, Any], i: int, port: int, store: str, workdir: Path) -> dict[str, Any]:
    cfg = json.loads(json.dumps(base))  # a deep copy
    address = node_address(i)
    cfg["server"] = {**cfg.get("server", {}), "listen": [
        {"transport": "udp", "address": address, "port": port},
        {"transport": "tcp", "address": address, "port": port},
    ]}
    cfg["store"] = {"url": store, "flush_interval": 0.05}
    cfg["cluster"] = {"node": NAMES[i], "edges": [f"{EDGE}/32"], "heartbeat": 1, "dead_after": 5}
    cfg["media"] = {**cfg.get("media", {}), "address": address}
    cfg["admin"] = {"socket": str(workdir / f"node-{NAMES[i]}.sock")}
    for optional in ("api", "provisioning"):
        cfg.pop(optional, None)
    return cfg


async def fresh(store: str) -> None:
    """Drop every table of the store: the nodes migrate a new one."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(store)
    async with engine.begin() as conn:
        names = (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars().all()
        for name in names:
            await conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    await engine.dispose()


def spawn(command: list[str], log: Path, cwd: Path) -> int:
    with open(log, "wb") as out:  # a new log each time: readiness is read from it
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc.pid


def wait_for(log: Path, text: bytes, pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_bytes():
            return
        if not alive(pid):
            raise SystemExit(f"{log.name}: the process exited:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    raise SystemExit(f"{log.name}: not ready after {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours (the test's own child) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def up(args: argparse.Namespace) -> None:
    workdir = Path(args.dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "pids.json").exists():
        down(args)
    if args.fresh:
        asyncio.run(fresh(args.store))
    base = yaml.safe_load(Path(args.config).read_text())
    pids: dict[str, int] = {}
    lines = []
    for i in range(args.nodes):
        name = NAMES[i]
        path = workdir / f"node-{name}.yaml"
        path.write_text(yaml.safe_dump(node_config(base, i, args.port, args.store, workdir), sort_keys=False))
        log = workdir / f"node-{name}.log"
        pid = spawn([sys.executable, "-m", "softswitch", "serve", "--config", str(path)], log, workdir)
        pids[f"node-{name}"] = pid
        wait_for(log, b" ready", pid)
        lines.append(f"node {name}: udp+tcp {node_address(i)}:{args.port} pid {pid} log {log}")
    ds_list = workdir / "dispatcher.list"
    ds_list.write_text("".join(f"1 sip:{node_address(i)}:{args.port}\n" for i in range(args.nodes)))
    log = workdir / "edge.log"
    pid = spawn(["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-l", f"udp:{EDGE}:{args.port}",
                 "-A", f'DS_LIST="{ds_list}"', "-A", f"DS_PROBE={args.probe}", "-m", "512", "-M", "16",
                 "-P", str(workdir / "edge.pid"), *(["-A", f'TRUSTED="{args.trusted}"'] if args.trusted else [])], log, workdir)
    pids["edge"] = pid
    wait_for(log, b"Listening on", pid)
    (workdir / "pids.json").write_text(json.dumps(pids))
    print(f"edge: udp {EDGE}:{args.port} (Kamailio, {KAMAILIO_CFG.relative_to(ROOT)}) pid {pid} log {log}")
    for line in lines:
        print(line)
    print(f"store: {args.store.split('@')[-1]}; stop with: scripts/cluster down --dir {workdir}")


def down(args: argparse.Namespace) -> None:
    workdir = Path(args.dir).resolve()
    state = workdir / "pids.json"
    if not state.exists():
        print("nothing started here")
        return
    pids: dict[str, int] = json.loads(state.read_text())
    for pid in pids.values():
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.1)
    for name, pid in pids.items():
        if alive(pid):
            print(f"{name} did not stop in 15 s: killed")
            os.killpg(pid, signal.SIGKILL)
    state.unlink()
    print(f"stopped {', '.join(pids)}")


def status(args: argparse.Namespace) -> None:
    state = Path(args.dir).resolve() / "pids.json"
    pids: dict[str, int] = json.loads(state.read_text()) if state.exists() else {}
    for name, pid in pids.items():
        print(f"{name}: pid {pid} {'running' if alive(pid) else 'stopped'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", default="cluster-run")
    parser.add_argument("--nodes", type=int, default=2, choices=range(1, len(NAMES) + 1))
    parser.add_argument("--port", type=int, default=5060, help="SIP port of the edge and of every node (each on its own address)")
    parser.add_argument("--probe", type=int, default=2, help="seconds between the edge's OPTIONS probes of each node")
    parser.add_argument("--config", default=str(ROOT / "config" / "example.yaml"))
    parser.add_argument("--store", default=os.environ.get("SOFTSWITCH_CLUSTER_PG_URL"))
    parser.add_argument("--fresh", action="store_true", help="drop every table of the store first")
    parser.add_argument("--trusted", help="networks the edge's pike never silences (a load generator): 127.0.0.1/32,...")
    args = parser.parse_args()
    if args.action == "up" and not args.store:
        parser.error("--store postgresql+asyncpg://... (or SOFTSWITCH_CLUSTER_PG_URL) is needed")
    {"up": up, "down": down, "status": status}[args.action](args)


if __name__ == "__main__":
    main()
