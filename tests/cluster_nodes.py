"""A real two-node Ray cluster on this machine (`ray start --head`, then `ray start --address`), started and torn
down without touching any other Ray here: used by tests/test_cluster_integration.py and
benchmarks/shuffle_transfer.py.

Isolation from the session's embedded Ray (the `ray_local` fixture) and from anything else on the machine:
- a `--temp-dir` of our own per node, so `ray_current_cluster` (which `ray.init()` reads to find a cluster) is not
  /tmp/ray's, and the two nodes do not share one session folder (see `two_nodes`);
- our own token (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN) in the subprocesses' environment only, never ~/.ray/auth_token;
- free ports for GCS, dashboard, client server, the dashboard agents (the agent's default 52365 is shared otherwise)
  and each node's Prometheus metrics endpoint;
- teardown never runs `ray stop` (it kills every Ray on the machine, the embedded one included): it kills our own
  processes by PID, found by process group and by our temp dir / GCS port in their command lines.

Ray turns `--node-ip-address=127.0.0.1` into the host's own interface address (it wants an address other nodes
could reach), so the nodes talk over that address: still this machine, nothing leaves it. The dashboard (job
submission) listens on 127.0.0.1 only, and we read the metrics endpoints on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def exe(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, pgid, command line) from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry)] = (int(fields[1]), int(fields[2]), cmd)
    return out


def our_processes(pgids: set[int], markers: list[re.Pattern]) -> set[int]:
    """Processes in our process groups or naming our temp dir / GCS port, and all their descendants."""
    procs = processes()
    me = os.getpid()
    found = {
        pid
        for pid, (_, pgid, cmd) in procs.items()
        if pid != me and (pgid in pgids or ("ray" in cmd and any(m.search(cmd) for m in markers)))
    }
    frontier = set(found)
    while frontier:
        frontier = {pid for pid, (ppid, _, _) in procs.items() if ppid in frontier and pid not in found and pid != me}
        found |= frontier
    return found


def kill_cluster(pgids: set[int], markers: list[re.Pattern]) -> None:
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        pids = our_processes(pgids, markers)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
            time.sleep(0.2)


def run(cmd: list[str], env: dict, timeout: float, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def start_node(args: list[str], env: dict, pgids: set[int], timeout: float = 90) -> None:
    proc = subprocess.Popen(
        [exe("ray"), "start", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the daemons it leaves behind keep this process group: teardown kills it
    )
    pgids.add(proc.pid)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"ray start {' '.join(args)} took over {timeout} s\n{out[-4000:]}")
    if proc.returncode != 0:
        raise AssertionError(f"ray start {' '.join(args)} exited {proc.returncode}\n{out[-4000:]}")


def get_json(url: str, token: Optional[str], timeout: float = 30) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        return json.load(resp)


def alive_nodes(dashboard: str, token: str) -> list[dict]:
    body = get_json(f"{dashboard}/api/v0/nodes?detail=1", token)
    return [n for n in body["data"]["result"]["result"] if n.get("state") == "ALIVE"]


def wait_for_nodes(dashboard: str, token: str, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    nodes: list[dict] = []
    while time.monotonic() < deadline:
        try:
            nodes = alive_nodes(dashboard, token)
        except OSError:  # the dashboard still starting its modules
            nodes = []
        if len(nodes) >= count:
            return nodes
        time.sleep(0.5)
    raise AssertionError(f"expected {count} alive nodes within {timeout} s, got {nodes}")


def read_user_token() -> Optional[bytes]:
    path = Path.home() / ".ray" / "auth_token"
    return path.read_bytes() if path.exists() else None


@contextmanager
def two_nodes(node2_resources: Optional[dict] = None, env_extra: Optional[dict] = None) -> Iterator[SimpleNamespace]:
    """A head and a second node, one CPU each, alive and authenticated; killed (by PID) and removed on exit.
    Yields address (GCS), dashboard and metrics (each node's Prometheus endpoint) URLs, env (with our token: pass
    it to every `ray`/`dataprep` subprocess), tmp, token, pgids/markers (teardown's), node2_pgids/node2_marker
    (to kill the second node alone) and start_s (both `ray start`s until the dashboard lists two nodes)."""
    tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's unix sockets live under it (108-byte limit)
    gcs, dash, client, agent_head, agent_worker, metrics_head, metrics_worker = free_ports(7)
    token = secrets.token_hex(32)
    drop = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN_PATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # `python` in a job's entrypoint is this venv's
        **(env_extra or {}),
    )
    pgids: set[int] = set()
    markers = [re.compile(re.escape(str(tmp))), re.compile(rf":{gcs}\b")]  # e.g. the client server: --address=IP:PORT
    # One temp dir per node: two nodes sharing one would share session_dir/runtime_resources, and the second node
    # re-extracting a job's working_dir there deletes the directory the job's driver runs in.
    common = ["--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats"]
    started = time.monotonic()
    try:
        start_node(
            [
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={gcs}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}",
                "--include-dashboard=true",
                f"--ray-client-server-port={client}",
                f"--dashboard-agent-listen-port={agent_head}",
                f"--metrics-export-port={metrics_head}",
                f"--temp-dir={tmp / 'head'}",
                *common,
            ],
            env,
            pgids,
        )
        node2: set[int] = set()
        start_node([f"--address=127.0.0.1:{gcs}", f"--dashboard-agent-listen-port={agent_worker}",
                    f"--metrics-export-port={metrics_worker}", f"--temp-dir={tmp / 'node2'}",
                    *([f"--resources={json.dumps(node2_resources)}"] if node2_resources else []), *common],
                   env, node2)
        pgids |= node2
        dashboard = f"http://127.0.0.1:{dash}"
        wait_for_nodes(dashboard, token, 2)
        yield SimpleNamespace(address=f"127.0.0.1:{gcs}", dashboard=dashboard, env=env, tmp=tmp, token=token,
                              metrics=[f"http://127.0.0.1:{metrics_head}", f"http://127.0.0.1:{metrics_worker}"],
                              start_s=time.monotonic() - started, pgids=pgids, markers=markers, node2_pgids=node2,
                              node2_marker=re.compile(re.escape(str(tmp / "node2"))))
    finally:
        kill_cluster(pgids, markers)
        shutil.rmtree(tmp, ignore_errors=True)
