"""A real two-node Ray cluster on this machine (`ray start` twice), used the way a user would:

(a) `dataprep ingest ... --address HOST:PORT` joins it, and writes the same shards, byte for byte, as an embedded Ray;
(b) `ray job submit --working-dir . -- python jobs/prepare_web.py --config ...` (jobs/prepare.py with a default
    config) runs a web pipeline job on it, placed on both nodes, resubmitted, and disturbed by faults.

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

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WEB = ROOT / "data" / "demo" / "web"
INGEST_INPUTS = [WEB / "c4_demo.jsonl", WEB / "songci_zh.jsonl", WEB / "bad_records.jsonl"]
WEB_CONFIG = ROOT / "tests" / "data" / "cluster_web.yaml"
NODE2_RESOURCE = "raylm_test_node2"
ON_NODE2 = ("--entrypoint-resources", json.dumps({NODE2_RESOURCE: 1}))  # the job's driver on the second node


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
        # The custom resource marks the second node: the placement test steers a job's driver onto it with it.
        node2: set[int] = set()
        _start_node([*worker, f"--temp-dir={tmp / 'node2'}", f"--resources={json.dumps({NODE2_RESOURCE: 1})}",
                     *common], env, node2)
        pgids |= node2
        dashboard = f"http://127.0.0.1:{dash}"
        _wait_for_nodes(dashboard, token, 2)
        yield SimpleNamespace(address=f"127.0.0.1:{gcs}", dashboard=dashboard, env=env, tmp=tmp, token=token,
                              pgids=pgids, markers=markers, node2_pgids=node2, node2_marker=re.compile(re.escape(str(tmp / "node2"))))
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


@pytest.mark.parametrize("config", [ROOT / "jobs" / "configs" / "ingest_demo.yaml"], ids=lambda p: p.name)
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


def test_ingest_on_cluster_matches_embedded(two_node_cluster, ray_local, tmp_path):
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


# ---- the web pipeline job on the cluster: placement, resubmission, a killed driver, a killed node ---------------------


def _submit(cluster, out: Path, sid: str, *extra: str, wait: bool = True, timeout: float = 240):
    """`ray job submit` of jobs/prepare_web.py on WEB_CONFIG; waits for it unless wait=False."""
    cmd = [_exe("ray"), "job", "submit", "--address", cluster.dashboard, "--submission-id", sid, "--working-dir", ".",
           *extra, *([] if wait else ["--no-wait"]), "--", "python", "jobs/prepare_web.py",
           "--config", str(WEB_CONFIG.relative_to(ROOT)), "--output", str(out)]
    return _run(cmd, cluster.env, timeout=timeout)


def _job(cluster, sid: str) -> dict:
    return _get_json(f"{cluster.dashboard}/api/jobs/{sid}", cluster.token)


def _job_logs(cluster, sid: str) -> str:
    return _get_json(f"{cluster.dashboard}/api/jobs/{sid}/logs", cluster.token)["logs"]


def _wait_job(cluster, sid: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(cluster, sid)
        if job["status"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {sid} not finished within {timeout} s: {_job(cluster, sid)}")


def _tasks(cluster, job_id: str | None = None) -> list[dict]:
    """Ray's task records (state API), of one job or of the whole cluster."""
    query = "detail=1&limit=10000" + (f"&filter_keys=job_id&filter_predicates=%3D&filter_values={job_id}" if job_id else "")
    return _get_json(f"{cluster.dashboard}/api/v0/tasks?{query}", cluster.token)["data"]["result"]["result"]


def _node_ids(cluster) -> tuple[str, str]:
    """(head's node id, the second node's), the second found by its custom resource."""
    nodes = _alive_nodes(cluster.dashboard, cluster.token)
    (second,) = [n["node_id"] for n in nodes if NODE2_RESOURCE in n.get("resources_total", {})]
    (head,) = [n["node_id"] for n in nodes if n["node_id"] != second]
    return head, second


def _pipeline_digests(out: Path) -> dict[str, list]:
    """Every dataset step's shard digests (each checked against its file) and the tokenizer model's hash."""
    digests = {p.parent.name: _shard_digests(p.parent) for p in sorted(out.glob("*/manifest.json"))}
    (model,) = out.glob("*-tokenizer/tokenizer.model")
    digests["tokenizer"] = hashlib.sha256(model.read_bytes()).hexdigest()
    return digests


def _files(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*") if p.is_file()}


def _wait_mid_stage(out: Path, timeout: float = 180) -> str:
    """Block until some step has committed a shard (its receipt) but not its manifest; that step's folder name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for step in sorted(out.glob("0*-*")):
            if not (step / "manifest.json").exists() and any(step.glob("shards/*.done.json")):
                return step.name
        time.sleep(0.05)
    raise AssertionError(f"no step of {out} was ever caught mid-way")


@pytest.fixture(scope="module")
def web_reference(two_node_cluster):
    """jobs/prepare_web.py submitted with its driver steered onto the second node (the custom resource): the
    undisturbed run every fault run is compared with."""
    out = two_node_cluster.tmp / "web-reference"
    _submit(two_node_cluster, out, "web-reference", *ON_NODE2)
    return SimpleNamespace(out=out, digests=_pipeline_digests(out), job=_job(two_node_cluster, "web-reference"))


@pytest.mark.slow  # whole pipeline jobs on the 2-node cluster (10-30 s each on 2 cores)
def test_prepare_web_job_runs_its_tasks_on_both_nodes(two_node_cluster, web_reference):
    head, second = _node_ids(two_node_cluster)
    assert web_reference.job["status"] == "SUCCEEDED" and web_reference.job["driver_node_id"] == second
    tasks = [t for t in _tasks(two_node_cluster, web_reference.job["job_id"]) if t["type"] == "NORMAL_TASK"]
    assert {t["node_id"] for t in tasks} == {head, second}, [(t["name"], t["node_id"]) for t in tasks]
    assert set(web_reference.digests) == {"00-ingest", "01-filter", "02-dedup", "04-tokenize", "tokenizer"}
    assert all(web_reference.digests[k] for k in ("00-ingest", "01-filter", "02-dedup", "04-tokenize"))


@pytest.mark.slow  # whole pipeline jobs on the 2-node cluster (10-30 s each on 2 cores)
def test_resubmitted_finished_pipeline_rewrites_nothing_and_runs_no_task(two_node_cluster, web_reference):
    before_files = _files(web_reference.out)
    before_tasks = {t["task_id"] for t in _tasks(two_node_cluster)}
    started = time.monotonic()
    # Its driver on the same node as the first run's: the working dir it reads its inputs from is that node's
    # extraction of the same package (another node's extraction has other mtimes, so another job key).
    _submit(two_node_cluster, web_reference.out, "web-resubmitted", *ON_NODE2)
    elapsed = time.monotonic() - started
    assert _job(two_node_cluster, "web-resubmitted")["status"] == "SUCCEEDED"
    # (its log lines stay on the second node, where its driver ran: the head's job API cannot show them)
    assert _files(web_reference.out) == before_files  # no shard, receipt, manifest or model rewritten
    new = [t for t in _tasks(two_node_cluster) if t["task_id"] not in before_tasks]
    stage_tasks = [t["name"] for t in new if not t["name"].startswith("JobSupervisor")]
    assert stage_tasks == [], stage_tasks  # only the job's own supervisor ran: no task of any stage
    print(f"resubmission took {elapsed:.1f} s (ray job submit included)")


def _busy_workers(cluster) -> list[int]:
    """Our cluster's worker processes running a stage's task (Ray titles them `ray::TASK`)."""
    procs = _processes()
    ours = _our_processes(cluster.pgids, cluster.markers)
    return [pid for pid in ours if procs.get(pid, (0, 0, ""))[2].startswith("ray::")
            and ("Map" in procs[pid][2] or "Read" in procs[pid][2])]


def _wait_progress_after(out: Path, since: float, timeout: float = 180) -> tuple[str, str]:
    """Block until a step committed its manifest after `since` (time.time()) and a later step is mid-way (a shard
    committed, no manifest yet): (that finished step, the later one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = sorted(out.glob("0*-*"))
        done = [s for s in steps if (s / "manifest.json").exists() and (s / "manifest.json").stat().st_mtime > since]
        if done:
            later = [s for s in steps if s.name > done[0].name and not (s / "manifest.json").exists()
                     and any(s.glob("shards/*.done.json"))]
            if later:
                return done[0].name, later[0].name
        time.sleep(0.01)
    raise AssertionError(f"{out}: no step finished after the worker's death with a later step caught mid-way: "
                         f"{sorted(p.name for p in out.glob('0*-*/manifest.json'))}")


@pytest.mark.slow  # whole pipeline jobs on the 2-node cluster (10-30 s each on 2 cores)
def test_killed_worker_then_killed_driver_rerun_resumes_and_matches(two_node_cluster, web_reference):
    """Two faults in one job (one pipeline run fewer). A Ray worker process SIGKILLed mid-stage: Ray reruns its
    task and the job carries on, committing a step after the worker's death. Then the driver SIGKILLed mid-way
    through a later step: the job fails there, a rerun resumes it, and the result equals the undisturbed run's."""
    out = two_node_cluster.tmp / "web-faults"
    _submit(two_node_cluster, out, "web-faults", wait=False)
    _wait_mid_stage(out)
    deadline, victims = time.monotonic() + 60, []
    while not victims and time.monotonic() < deadline:
        victims = _busy_workers(two_node_cluster)[:1]
        time.sleep(0.05)
    assert victims, "no worker was caught running a task"
    killed_at = time.time()
    os.kill(victims[0], signal.SIGKILL)

    finished, step = _wait_progress_after(out, killed_at)  # the job survived its worker's death
    drivers = [pid for pid, (_, _, cmd) in _processes().items() if "prepare_web.py" in cmd and str(out) in cmd]
    assert drivers, "the job's driver process was not found"
    for pid in drivers:
        os.kill(pid, signal.SIGKILL)
    assert _wait_job(two_node_cluster, "web-faults")["status"] == "FAILED"
    assert not (out / step / "manifest.json").exists()  # killed mid-step: that step is unfinished
    before = {k: v for k, v in _files(out).items() if k.startswith(finished + "/")}

    _submit(two_node_cluster, out, "web-faults-rerun")
    logs = _job_logs(two_node_cluster, "web-faults-rerun")
    assert "reused from an earlier run" in logs or "finished by an earlier run" in logs, logs[-3000:]
    # the step committed after the worker's death is the faulted job's own (not redone by the rerun) ...
    assert {k: v for k, v in _files(out).items() if k.startswith(finished + "/")} == before
    # ... and it, like every other step, is byte for byte the undisturbed run's
    assert _pipeline_digests(out) == web_reference.digests
    print(f"worker killed before {finished} committed; driver killed mid-way through {step}")


def _actors(cluster, job_id: str, class_name: str) -> list[dict]:
    query = f"detail=1&limit=10000&filter_keys=job_id&filter_predicates=%3D&filter_values={job_id}"
    records = _get_json(f"{cluster.dashboard}/api/v0/actors?{query}", cluster.token)["data"]["result"]["result"]
    return [a for a in records if a["class_name"] == class_name]


def _submit_pretrain(cluster, job: Path, sid: str, s3_settings: dict, *extra: str, wait: bool = True):
    """`ray job submit` of jobs/pretrain.py; the object store's settings reach the job (and through it the Ray
    Train workers) in its environment, never in the job's YAML."""
    runtime_env = json.dumps({"env_vars": {"FSSPEC_S3": json.dumps(s3_settings)}})
    cmd = [_exe("ray"), "job", "submit", "--address", cluster.dashboard, "--submission-id", sid, "--working-dir", ".",
           "--runtime-env-json", runtime_env, *([] if wait else ["--no-wait"]), "--", "python", "jobs/pretrain.py",
           "--config", str(job), *extra]
    return _run(cmd, cluster.env, timeout=300)


@pytest.mark.slow  # two Ray Train jobs of 2 workers on the 2-node cluster (~20 s each on 2 cores)
def test_two_worker_training_job_checkpoints_to_s3_and_resumes_from_there(two_node_cluster, web_reference,
                                                                          s3_settings):
    """jobs/pretrain.py, 2 workers (one per node: each node has one CPU), on the web job's own token shards, run
    folder on s3:// (moto on loopback): Ray Train's checkpoints go to the store, no shared file system. The driver
    is SIGKILLed after two checkpoints; the newest one is then cut short; the resubmitted job (--resume) falls back
    to the one before, and the steps it trains again equal, bit for bit, what the killed job logged for them."""
    from typer.testing import CliRunner

    from tests.training.test_pretrain_ray import _registered_checkpoints
    from training.cli import app as training_app
    from training.checkpoint import checkpoint_names, step_dir_name
    from training.metrics import read_metrics
    from training.runfolder import RunFolder

    steps, run = 40, "s3://runs/cluster-two-workers"
    job = two_node_cluster.tmp / "pretrain-s3.yaml"
    job.write_text(json.dumps({  # YAML is a superset of JSON
        "output": run, "data": str(web_reference.out / "04-tokenize"), "model": "tiny", "seq_len": 64,
        "batch_size": 2, "num_workers": 2, "cpus_per_worker": 1, "steps": steps, "checkpoint_every": 10,
        "report_every": 5, "keep_checkpoints": 4, "log_every": 1, "eval_every": 0, "val_fraction": 0.0,
        "lr": 3e-3, "warmup_steps": 4, "max_failures": 0,
    }))
    folder = RunFolder(run)
    _submit_pretrain(two_node_cluster, job, "train-s3", s3_settings, wait=False)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(_registered_checkpoints(run)) < 2:
        assert _job(two_node_cluster, "train-s3")["status"] in ("PENDING", "RUNNING"), \
            _job_logs(two_node_cluster, "train-s3")[-3000:]
        time.sleep(0.05)
    drivers = [pid for pid, (_, _, cmd) in _processes().items() if "jobs/pretrain.py" in cmd and str(job) in cmd]
    assert drivers, "the training job's driver process was not found"
    for pid in drivers:
        os.kill(pid, signal.SIGKILL)
    killed = _wait_job(two_node_cluster, "train-s3")
    assert killed["status"] == "FAILED", killed

    head, second = _node_ids(two_node_cluster)
    workers = _actors(two_node_cluster, killed["job_id"], "RayTrainWorker")
    assert {a["node_id"] for a in workers} == {head, second}, workers  # one rank per node
    names = checkpoint_names(folder)
    assert len(names) >= 2 and step_dir_name(steps) not in names
    logged = {m["step"]: m["loss"] for m in read_metrics(run) if "loss" in m}
    weights = folder.fs_path("checkpoints", names[-1], "model.safetensors")
    folder.fs.pipe_file(weights, folder.fs.cat_file(weights)[:-100])  # the newest checkpoint cut short
    folder.fs.invalidate_cache()

    _submit_pretrain(two_node_cluster, job, "train-s3-resumed", s3_settings, "--resume")
    logs = _job_logs(two_node_cluster, "train-s3-resumed")
    assert f"trying checkpoints/{names[-2]}" in logs, logs[-3000:]
    events = [json.loads(line) for line in folder.read_text("events.jsonl").splitlines()]
    (resume,) = [e for e in events if e["event"] == "resume"]
    assert resume["checkpoint"] == names[-2] and 0 < resume["step"] < max(logged)
    got = {m["step"]: m["loss"] for m in read_metrics(run) if "loss" in m}
    assert sorted(got) == list(range(1, steps + 1))  # the re-trained steps replaced, not duplicated
    again = [s for s in logged if s > resume["step"]]
    assert again and {s: got[s] for s in logged} == logged  # steps trained twice: the same losses, bit for bit
    final = json.loads(folder.read_text("checkpoints", step_dir_name(steps), "state.json"))
    assert final["step"] == steps and final["world_size"] == 2
    evaluated = CliRunner().invoke(training_app, ["eval", "--checkpoint", run, "--data",
                                                  str(web_reference.out / "04-tokenize"), "--max-batches", "2"])
    assert evaluated.exit_code == 0, evaluated.output  # the run read back from s3:// like a local one
    assert json.loads(evaluated.output.strip().splitlines()[-1])["step"] == steps
    print(f"killed after step {max(logged)}; resumed from {names[-2]}; re-trained steps {again[0]}-{again[-1]}")


@pytest.mark.slow  # whole pipeline jobs on the 2-node cluster (10-30 s each on 2 cores)
def test_killed_second_node_job_finishes_on_head_and_matches(two_node_cluster, web_reference):
    """Last in this module: the second node does not come back."""
    head, second = _node_ids(two_node_cluster)
    out = two_node_cluster.tmp / "web-node-killed"
    _submit(two_node_cluster, out, "web-node-killed", wait=False)  # default scheduling
    _wait_mid_stage(out)
    _kill_cluster(two_node_cluster.node2_pgids, [two_node_cluster.node2_marker])
    job = _wait_job(two_node_cluster, "web-node-killed")
    assert job["status"] == "SUCCEEDED" and job["driver_node_id"] == head, job
    assert _pipeline_digests(out) == web_reference.digests
    assert [n["node_id"] for n in _alive_nodes(two_node_cluster.dashboard, two_node_cluster.token)] == [head]
