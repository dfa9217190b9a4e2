"""A real two-node Ray cluster on this machine (`ray start` twice), used the way a user would:

(a) `dataprep ingest ... --address HOST:PORT` joins it, and writes the same shards, byte for byte, as an embedded Ray;
(b) `ray job submit --working-dir . -- python jobs/prepare.py --config ...` runs a pipeline job on it.

Isolation from the session's embedded Ray (the `ray_local` fixture) and from anything else on the machine:
- `--temp-dir` of our own, so `ray_current_cluster` (which `ray.init()` reads to find a cluster) is not /tmp/ray's;
- our own token (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN) in the subprocesses' environment only, never ~/.ray/auth_token;
- free ports for GCS, dashboard, client server and the dashboard agents (the agent's default 52365 is shared otherwise);
- teardown never runs `ray stop` (it kills every Ray on the machine, the embedded one included): it kills our own
  processes by PID, found by process group and by our temp dir / GCS port in their command lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WEB = ROOT / "data" / "demo" / "web"
INGEST_INPUTS = [WEB / "c4_demo.jsonl", WEB / "songci_zh.jsonl", WEB / "bad_records.jsonl"]
JOB_CONFIG = ROOT / "tests" / "data" / "cluster_job.yaml"


def _exe(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def _free_ports(n: int) -> list[int]:
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


def _processes() -> dict[int, tuple[int, int, str]]:
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


def _our_processes(pgids: set[int], markers: list[str]) -> set[int]:
    """Processes in our process groups or naming our temp dir / GCS port, and all their descendants."""
    procs = _processes()
    me = os.getpid()
    found = {
        pid
        for pid, (_, pgid, cmd) in procs.items()
        if pid != me and (pgid in pgids or ("ray" in cmd and any(m in cmd for m in markers)))
    }
    frontier = set(found)
    while frontier:
        frontier = {pid for pid, (ppid, _, _) in procs.items() if ppid in frontier and pid not in found and pid != me}
        found |= frontier
    return found


def _kill_cluster(pgids: set[int], markers: list[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        pids = _our_processes(pgids, markers)
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


def _run(cmd: list[str], env: dict, timeout: float, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def _start_node(args: list[str], env: dict, pgids: set[int], timeout: float = 90) -> None:
    proc = subprocess.Popen(
        [_exe("ray"), "start", *args],
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


def _alive_nodes(dashboard: str, token: str, timeout: float = 30) -> list[dict]:
    req = urllib.request.Request(f"{dashboard}/api/v0/nodes?detail=1", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = json.load(resp)
    return [n for n in body["data"]["result"]["result"] if n.get("state") == "ALIVE"]


@pytest.fixture(scope="module")
def cluster():
    tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's unix sockets live under it (108-byte limit)
    gcs, dash, client, agent_head, agent_worker = _free_ports(5)
    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # `python` in a job's entrypoint is this venv's
    )
    pgids: set[int] = set()
    markers = [str(tmp), f":{gcs}"]
    common = ["--num-cpus=1", f"--temp-dir={tmp}", "--object-store-memory=200000000", "--disable-usage-stats"]
    try:
        _start_node(
            [
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={gcs}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}",
                "--include-dashboard=true",
                f"--ray-client-server-port={client}",
                f"--dashboard-agent-listen-port={agent_head}",
                *common,
            ],
            env,
            pgids,
        )
        _start_node(
            [f"--address=127.0.0.1:{gcs}", f"--dashboard-agent-listen-port={agent_worker}", *common], env, pgids
        )
        dashboard = f"http://127.0.0.1:{dash}"
        deadline = time.monotonic() + 30
        while len(nodes := _alive_nodes(dashboard, token)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(nodes) == 2, f"expected 2 alive nodes, got {nodes}"
        yield SimpleNamespace(address=f"127.0.0.1:{gcs}", dashboard=dashboard, env=env, tmp=tmp, token=token)
    finally:
        _kill_cluster(pgids, markers)
        shutil.rmtree(tmp, ignore_errors=True)


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _shard_digests(folder: Path) -> list[tuple[str, int, str]]:
    """(path, rows, sha256) per shard from the manifest, each sha256 checked against the file itself."""
    out = []
    for shard in _manifest(folder)["shards"]:
        actual = hashlib.sha256((folder / shard["path"]).read_bytes()).hexdigest()
        assert actual == shard["sha256"], f"{folder / shard['path']}: manifest sha256 does not match the file"
        out.append((shard["path"], shard["rows"], shard["sha256"]))
    return out


def test_ingest_on_cluster_matches_embedded(cluster, ray_local, tmp_path):
    from dataprep import operations
    from dataprep.distributed.runtime import ray_session

    on_cluster = cluster.tmp / "ingest-cluster"
    proc = _run(
        [_exe("dataprep"), "ingest", *map(str, INGEST_INPUTS), "-o", str(on_cluster), "--address", cluster.address],
        cluster.env,
        timeout=120,
    )
    assert "wrote" in proc.stderr

    embedded = tmp_path / "ingest-embedded"
    with ray_session():  # the session's embedded Ray (already initialised: reused, left running)
        manifest, _ = operations.ingest([str(p) for p in INGEST_INPUTS], str(embedded))

    cluster_manifest = _manifest(on_cluster)
    assert cluster_manifest["kind"] == "documents"
    (stage,) = cluster_manifest["stats"]["stages"]
    lines = sum(1 for p in INGEST_INPUTS for line in p.open(encoding="utf-8", errors="replace") if line.strip())
    rows = sum(s["rows"] for s in cluster_manifest["shards"])
    assert stage["rows_in"] == lines and stage["rows_out"] == rows > 0
    assert sum(stage["dropped"].values()) == lines - rows > 0  # bad_records.jsonl: counted and skipped
    assert rows == manifest.rows
    assert cluster_manifest["stats"] == json.loads(manifest.to_bytes())["stats"]
    assert _shard_digests(on_cluster) == _shard_digests(embedded)  # byte-identical shards


def test_ray_job_submit_runs_pipeline(cluster):
    out = cluster.tmp / "job-out"
    proc = _run(
        [
            _exe("ray"),
            "job",
            "submit",
            "--address",
            cluster.dashboard,
            "--working-dir",
            ".",
            "--",
            "python",
            "jobs/prepare.py",
            "--config",
            str(JOB_CONFIG.relative_to(ROOT)),
            "--output",
            str(out),
        ],
        cluster.env,
        timeout=180,
    )
    text = proc.stdout + proc.stderr
    assert "succeeded" in text, text[-4000:]
    dataset = out / "00-ingest"
    manifest = _manifest(dataset)
    assert manifest["kind"] == "documents"
    songci_lines = sum(1 for line in (WEB / "songci_zh.jsonl").open(encoding="utf-8") if line.strip())
    rows = sum(s["rows"] for s in manifest["shards"])
    assert 0 < rows <= songci_lines
    _shard_digests(dataset)
