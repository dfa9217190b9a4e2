"""A real two-node Ray cluster on this machine (`ray start` twice), used the way a user would:

(a) `dataprep ingest ... --address HOST:PORT` joins it, and writes the same shards, byte for byte, as an embedded Ray;
(b) `ray job submit --working-dir . -- python jobs/prepare.py --config ...` runs a pipeline job on it.

Isolation from the session's embedded Ray (the `ray_local` fixture) and from anything else on the machine:
- a `--temp-dir` of our own per node, so `ray_current_cluster` (which `ray.init()` reads to find a cluster) is not
  /tmp/ray's, and the two nodes do not share one session folder (see the fixture);
- our own token (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN) in the subprocesses' environment only, never ~/.ray/auth_token;
- free ports for GCS, dashboard, client server and the dashboard agents (the agent's default 52365 is shared otherwise);
- teardown never runs `ray stop` (it kills every Ray on the machine, the embedded one included): it kills our own
  processes by PID, found by process group and by our temp dir / GCS port in their command lines.

Ray turns `--node-ip-address=127.0.0.1` into the host's own interface address (it wants an address other nodes
could reach), so the nodes talk over that address: still this machine, nothing leaves it. The dashboard (job
submission) listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
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
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import ray
import yaml

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


def _our_processes(pgids: set[int], markers: list[re.Pattern]) -> set[int]:
    """Processes in our process groups or naming our temp dir / GCS port, and all their descendants."""
    procs = _processes()
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


def _kill_cluster(pgids: set[int], markers: list[re.Pattern]) -> None:
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
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
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
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


def _get_json(url: str, token: str | None, timeout: float = 30) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        return json.load(resp)


def _alive_nodes(dashboard: str, token: str) -> list[dict]:
    body = _get_json(f"{dashboard}/api/v0/nodes?detail=1", token)
    return [n for n in body["data"]["result"]["result"] if n.get("state") == "ALIVE"]


def _wait_for_nodes(dashboard: str, token: str, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    nodes: list[dict] = []
    while time.monotonic() < deadline:
        try:
            nodes = _alive_nodes(dashboard, token)
        except OSError:  # the dashboard still starting its modules
            nodes = []
        if len(nodes) >= count:
            return nodes
        time.sleep(0.5)
    raise AssertionError(f"expected {count} alive nodes within {timeout} s, got {nodes}")


@pytest.fixture(scope="module")
def two_node_cluster():
    tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's unix sockets live under it (108-byte limit)
    gcs, dash, client, agent_head, agent_worker = _free_ports(5)
    token = secrets.token_hex(32)
    user_token = _read_user_token()
    drop = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN_PATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # `python` in a job's entrypoint is this venv's
    )
    pgids: set[int] = set()
    markers = [re.compile(re.escape(str(tmp))), re.compile(rf":{gcs}\b")]  # e.g. the client server: --address=IP:PORT
    # One temp dir per node: two nodes sharing one would share session_dir/runtime_resources, and the second node
    # re-extracting a job's working_dir there deletes the directory the job's driver runs in.
    common = ["--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats"]
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
                f"--temp-dir={tmp / 'head'}",
                *common,
            ],
            env,
            pgids,
        )
        worker = [f"--address=127.0.0.1:{gcs}", f"--dashboard-agent-listen-port={agent_worker}"]
        _start_node([*worker, f"--temp-dir={tmp / 'node2'}", *common], env, pgids)
        dashboard = f"http://127.0.0.1:{dash}"
        _wait_for_nodes(dashboard, token, 2)
        yield SimpleNamespace(address=f"127.0.0.1:{gcs}", dashboard=dashboard, env=env, tmp=tmp, token=token)
    finally:
        _kill_cluster(pgids, markers)
        shutil.rmtree(tmp, ignore_errors=True)
    # Ours gone, nothing else touched: the session's embedded Ray (when this process started one) still works,
    # and the user's token file is as it was.
    assert not _our_processes(pgids, markers)
    if ray.is_initialized():
        assert ray.get(ray.put("alive"), timeout=30) == "alive"
    assert _read_user_token() == user_token


def _read_user_token() -> bytes | None:
    path = Path.home() / ".ray" / "auth_token"
    return path.read_bytes() if path.exists() else None


@pytest.fixture(scope="module")
def submitted_job(two_node_cluster):
    """`ray job submit` of jobs/prepare.py, started in the background so that it runs while the ingest test does."""
    out = two_node_cluster.tmp / "job-out"
    log = two_node_cluster.tmp / "job-submit.log"
    cmd = [
        _exe("ray"),
        "job",
        "submit",
        "--address",
        two_node_cluster.dashboard,
        "--working-dir",
        ".",
        "--runtime-env-json",
        json.dumps({"env_vars": {"DATAPREP_DEBUG": "1"}}),  # a failure shows its traceback in the job log
        "--",
        "python",
        "jobs/prepare.py",
        "--config",
        str(JOB_CONFIG.relative_to(ROOT)),
        "--output",
        str(out),
    ]
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, env=two_node_cluster.env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield SimpleNamespace(proc=proc, out=out, log=log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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


def _check_ingested(manifest: dict, inputs: list[Path]) -> None:
    """A documents dataset whose ingest stats account for every input line; bad_records.jsonl's are dropped."""
    assert manifest["kind"] == "documents"
    (stage,) = manifest["stats"]["stages"]
    lines = sum(1 for p in inputs for line in p.open(encoding="utf-8", errors="replace") if line.strip())
    rows = sum(s["rows"] for s in manifest["shards"])
    assert stage["rows_in"] == lines and stage["rows_out"] == rows > 0
    assert sum(stage["dropped"].values()) == lines - rows > 0


@pytest.mark.parametrize("config", [JOB_CONFIG, ROOT / "jobs" / "configs" / "ingest_demo.yaml"], ids=lambda p: p.name)
def test_job_config_is_valid(config):
    """Configs submitted with --working-dir: every input pattern matches files relative to the repo root."""
    from dataprep.pipeline import load_config

    (step,) = load_config(str(config)).steps
    assert step.name == "ingest"
    for pattern in step.inputs:
        assert not Path(pattern).is_absolute() and sorted(ROOT.glob(pattern)), pattern


def test_cluster_requires_token(two_node_cluster):
    with pytest.raises(urllib.error.HTTPError) as err:
        _get_json(f"{two_node_cluster.dashboard}/api/v0/nodes", token=None)
    assert err.value.code in (401, 403)
    with pytest.raises(urllib.error.HTTPError):
        _get_json(f"{two_node_cluster.dashboard}/api/v0/nodes", token="not-" + two_node_cluster.token)
    assert len(_alive_nodes(two_node_cluster.dashboard, two_node_cluster.token)) == 2


def test_ingest_on_cluster_matches_embedded(two_node_cluster, submitted_job, ray_local, tmp_path):
    # submitted_job: requested here only so that the job (checked below) runs alongside this test
    from dataprep.distributed.runtime import ray_session
    from tests.conftest import ingest

    on_cluster = two_node_cluster.tmp / "ingest-cluster"
    cluster_address = two_node_cluster.address
    proc = _run(
        [_exe("dataprep"), "ingest", *map(str, INGEST_INPUTS), "-o", str(on_cluster), "--address", cluster_address],
        two_node_cluster.env,
        timeout=120,
    )
    assert "wrote" in proc.stderr

    embedded = tmp_path / "ingest-embedded"
    with ray_session():  # the session's embedded Ray (already initialised: reused, left running)
        manifest, _ = ingest([str(p) for p in INGEST_INPUTS], str(embedded))

    cluster_manifest = _manifest(on_cluster)
    _check_ingested(cluster_manifest, INGEST_INPUTS)
    assert sum(s["rows"] for s in cluster_manifest["shards"]) == manifest.rows
    assert cluster_manifest["stats"] == json.loads(manifest.to_bytes())["stats"]
    assert _shard_digests(on_cluster) == _shard_digests(embedded)  # byte-identical shards


def test_ray_job_submit_runs_pipeline(submitted_job):
    try:
        rc = submitted_job.proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"ray job submit still running after 180 s\n{submitted_job.log.read_text()[-4000:]}")
    text = submitted_job.log.read_text()
    assert rc == 0 and "succeeded" in text, f"ray job submit exited {rc}\n{text[-4000:]}"
    dataset = submitted_job.out / "00-ingest"
    (step,) = yaml.safe_load(JOB_CONFIG.read_text())["steps"]
    _check_ingested(_manifest(dataset), [ROOT / p for p in step["ingest"]["inputs"]])
    _shard_digests(dataset)
