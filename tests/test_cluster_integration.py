"""A real two-node Ray cluster on this machine (`ray start` twice), used the way a user would:

(a) `dataprep ingest ... --address HOST:PORT` joins it, and writes the same shards, byte for byte, as an embedded Ray;
(b) `ray job submit --working-dir . -- python jobs/prepare_web.py --config ...` (jobs/prepare.py with a default
    config) runs a web pipeline job on it, placed on both nodes, resubmitted, and disturbed by faults.

The cluster (`two_nodes` in tests/cluster_nodes.py) is isolated from the session's embedded Ray (the `ray_local`
fixture) and from anything else on the machine: its own temp dirs, token, ports, and teardown by PID.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import pytest
import ray

from tests.cluster_nodes import (alive_nodes, exe, get_json, kill_cluster, our_processes, processes, read_user_token,
                                 run, two_nodes)

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "data" / "demo" / "web"
INGEST_INPUTS = [WEB / "c4_demo.jsonl", WEB / "songci_zh.jsonl", WEB / "bad_records.jsonl"]
WEB_CONFIG = ROOT / "tests" / "data" / "cluster_web.yaml"
NODE2_RESOURCE = "raylm_test_node2"
ON_NODE2 = ("--entrypoint-resources", json.dumps({NODE2_RESOURCE: 1}))  # the job's driver on the second node


@pytest.fixture(scope="module")
def two_node_cluster():
    user_token = read_user_token()
    # The custom resource marks the second node: the placement test steers a job's driver onto it with it.
    with two_nodes(node2_resources={NODE2_RESOURCE: 1}) as cluster:
        yield cluster
    # Ours gone, nothing else touched: the session's embedded Ray (when this process started one) still works,
    # and the user's token file is as it was.
    assert not our_processes(cluster.pgids, cluster.markers)
    if ray.is_initialized():
        assert ray.get(ray.put("alive"), timeout=30) == "alive"
    assert read_user_token() == user_token


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
        get_json(f"{two_node_cluster.dashboard}/api/v0/nodes", token=None)
    assert err.value.code in (401, 403)
    with pytest.raises(urllib.error.HTTPError):
        get_json(f"{two_node_cluster.dashboard}/api/v0/nodes", token="not-" + two_node_cluster.token)
    assert len(alive_nodes(two_node_cluster.dashboard, two_node_cluster.token)) == 2


def test_ingest_on_cluster_matches_embedded(two_node_cluster, ray_local, tmp_path):
    from dataprep.distributed.runtime import ray_session
    from tests.conftest import ingest

    on_cluster = two_node_cluster.tmp / "ingest-cluster"
    cluster_address = two_node_cluster.address
    proc = run(
        [exe("dataprep"), "ingest", *map(str, INGEST_INPUTS), "-o", str(on_cluster), "--address", cluster_address],
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
    cmd = [exe("ray"), "job", "submit", "--address", cluster.dashboard, "--submission-id", sid, "--working-dir", ".",
           *extra, *([] if wait else ["--no-wait"]), "--", "python", "jobs/prepare_web.py",
           "--config", str(WEB_CONFIG.relative_to(ROOT)), "--output", str(out)]
    return run(cmd, cluster.env, timeout=timeout)


def _job(cluster, sid: str) -> dict:
    return get_json(f"{cluster.dashboard}/api/jobs/{sid}", cluster.token)


def _job_logs(cluster, sid: str) -> str:
    return get_json(f"{cluster.dashboard}/api/jobs/{sid}/logs", cluster.token)["logs"]


def _wait_job(cluster, sid: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(cluster, sid)
        if job["status"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {sid} not finished within {timeout} s: {_job(cluster, sid)}")


def _records(cluster, kind: str, job_id: str | None = None) -> list[dict]:
    """Ray's records of `kind` (state API: tasks, actors), of one job or of the whole cluster."""
    query = "detail=1&limit=10000" + (f"&filter_keys=job_id&filter_predicates=%3D&filter_values={job_id}" if job_id else "")
    return get_json(f"{cluster.dashboard}/api/v0/{kind}?{query}", cluster.token)["data"]["result"]["result"]


def _tasks(cluster, job_id: str | None = None) -> list[dict]:
    return _records(cluster, "tasks", job_id)


def _node_ids(cluster) -> tuple[str, str]:
    """(head's node id, the second node's), the second found by its custom resource."""
    nodes = alive_nodes(cluster.dashboard, cluster.token)
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


def _wait_mid_stage(out: Path, since: float = 0.0, timeout: float = 180) -> str:
    """Block until some step without a manifest commits a shard (its receipt) after `since` (time.time()); that
    step's folder name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for step in sorted(out.glob("0*-*")):
            if not (step / "manifest.json").exists() and any(r.stat().st_mtime > since
                                                             for r in step.glob("shards/*.done.json")):
                return step.name
        time.sleep(0.01)
    raise AssertionError(f"no step of {out} was ever caught mid-way (a shard committed after {since})")


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
    procs = processes()
    ours = our_processes(cluster.pgids, cluster.markers)
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


def _actors(cluster, job_id: str, class_name: str) -> list[dict]:
    return [a for a in _records(cluster, "actors", job_id) if a["class_name"] == class_name]


def _submit_pretrain(cluster, job: Path, sid: str, s3_settings: dict, *extra: str, wait: bool = True):
    """`ray job submit` of jobs/pretrain.py; the object store's settings reach the job (and through it the Ray
    Train workers) in its environment, never in the job's YAML."""
    # The report poll pinned (not whatever this process's environment holds): how far the workers run ahead of the
    # registered checkpoints before the kill must not depend on which tests ran before in this process.
    runtime_env = json.dumps({"env_vars": {"FSSPEC_S3": json.dumps(s3_settings),
                                           "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"}})
    cmd = [exe("ray"), "job", "submit", "--address", cluster.dashboard, "--submission-id", sid, "--working-dir", ".",
           "--runtime-env-json", runtime_env, *([] if wait else ["--no-wait"]), "--", "python", "jobs/pretrain.py",
           "--config", str(job), *extra]
    return run(cmd, cluster.env, timeout=300)


@pytest.mark.slow  # two Ray Train jobs of 2 workers on the 2-node cluster: ~60 s in all on 2 cores
def test_two_worker_training_job_checkpoints_to_s3_and_resumes_from_there(two_node_cluster, web_reference,
                                                                          s3_settings):
    """jobs/pretrain.py, 2 workers (one per node: each node has one CPU), on the web job's own token shards, run
    folder on s3:// (moto on loopback): Ray Train's checkpoints go to the store, no shared file system. The driver
    is SIGKILLed after two checkpoints; the newest one is then cut short; the resubmitted job (--resume) falls back
    to the one before, and the steps it trains again equal, bit for bit, what the killed job logged for them."""
    from typer.testing import CliRunner

    from tests.training.conftest import registered_checkpoints
    from training.cli import app as training_app
    from training.checkpoint import checkpoint_names, damage, step_dir_name
    from training.metrics import read_metrics
    from training.runfolder import RunFolder

    steps, run_url = 30, "s3://runs/cluster-two-workers"
    job = two_node_cluster.tmp / "pretrain-s3.yaml"
    job.write_text(json.dumps({  # YAML is a superset of JSON
        "output": run_url, "data": str(web_reference.out / "04-tokenize"), "model": "tiny", "seq_len": 64,
        "batch_size": 2, "num_workers": 2, "cpus_per_worker": 1, "steps": steps, "checkpoint_every": 5,
        "report_every": 5, "keep_checkpoints": 4, "log_every": 1, "eval_every": 0, "val_fraction": 0.0,
        "lr": 3e-3, "warmup_steps": 4, "max_failures": 0,
    }))
    folder = RunFolder(run_url)
    _submit_pretrain(two_node_cluster, job, "train-s3", s3_settings, wait=False)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(registered_checkpoints(run_url)) < 2:
        assert _job(two_node_cluster, "train-s3")["status"] in ("PENDING", "RUNNING"), \
            _job_logs(two_node_cluster, "train-s3")[-3000:]
        time.sleep(0.05)
    drivers = [pid for pid, (_, _, cmd) in processes().items() if "jobs/pretrain.py" in cmd and str(job) in cmd]
    assert drivers, "the training job's driver process was not found"
    for pid in drivers:
        os.kill(pid, signal.SIGKILL)
    killed = _wait_job(two_node_cluster, "train-s3")
    assert killed["status"] == "FAILED", killed

    head, second = _node_ids(two_node_cluster)
    workers = _actors(two_node_cluster, killed["job_id"], "RayTrainWorker")
    assert {a["node_id"] for a in workers} == {head, second}, workers  # one rank per node
    # The workers outlive their driver for a moment, and may be uploading a newer checkpoint: wait for their end.
    deadline = time.monotonic() + 60
    while any(a["state"] != "DEAD" for a in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = _actors(two_node_cluster, killed["job_id"], "RayTrainWorker")
    assert all(a["state"] == "DEAD" for a in workers), workers
    names = [n for n in checkpoint_names(folder) if damage(folder, n) is None]  # not one cut short by the kill
    assert len(names) >= 2 and step_dir_name(steps) not in names
    logged = {m["step"]: m["loss"] for m in read_metrics(run_url) if "loss" in m}
    weights = folder.fs_path("checkpoints", names[-1], "model.safetensors")
    folder.fs.pipe_file(weights, folder.fs.cat_file(weights)[:-100])  # the newest checkpoint cut short
    folder.fs.invalidate_cache()

    _submit_pretrain(two_node_cluster, job, "train-s3-resumed", s3_settings, "--resume")
    logs = _job_logs(two_node_cluster, "train-s3-resumed")
    assert f"trying checkpoints/{names[-2]}" in logs, logs[-3000:]
    events = [json.loads(line) for line in folder.read_text("events.jsonl").splitlines()]
    (resume,) = [e for e in events if e["event"] == "resume"]
    assert resume["checkpoint"] == names[-2] and 0 < resume["step"] < max(logged)
    records = [m for m in read_metrics(run_url) if "loss" in m]
    assert [m["step"] for m in records] == list(range(1, steps + 1))  # the re-trained steps replaced, not repeated
    got = {m["step"]: m["loss"] for m in records}
    again = [s for s in logged if s > resume["step"]]
    assert again and {s: got[s] for s in logged} == logged  # steps trained twice: the same losses, bit for bit
    final = json.loads(folder.read_text("checkpoints", step_dir_name(steps), "state.json"))
    assert final["step"] == steps and final["world_size"] == 2
    evaluated = CliRunner().invoke(training_app, ["eval", "--checkpoint", run_url, "--data",
                                                  str(web_reference.out / "04-tokenize"), "--max-batches", "2"])
    assert evaluated.exit_code == 0, evaluated.output  # the run read back from s3:// like a local one
    assert json.loads(evaluated.output.strip().splitlines()[-1])["step"] == steps
    print(f"killed after step {max(logged)}; resumed from {names[-2]}; re-trained steps {again[0]}-{again[-1]}")


@pytest.mark.slow  # three jobs on the 2-node cluster, two of them killed: 14-20 s on 2 cores
def test_killed_worker_driver_and_node_the_rerun_ends_on_head_and_matches(two_node_cluster, web_reference):
    """Three faults, one after another (one pipeline run instead of three). A Ray worker process SIGKILLed
    mid-stage: Ray reruns its task and the job carries on, committing a step after the worker's death. Then the
    driver SIGKILLed mid-way through a later step: the job fails there. Its rerun resumes it, and loses the second
    node for good mid-way: it finishes on the head, and the result equals the undisturbed run's, byte for byte.
    Last in this module, as the second node does not come back."""
    head, second = _node_ids(two_node_cluster)
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
    drivers = [pid for pid, (_, _, cmd) in processes().items() if "prepare_web.py" in cmd and str(out) in cmd]
    assert drivers, "the job's driver process was not found"
    for pid in drivers:
        os.kill(pid, signal.SIGKILL)
    assert _wait_job(two_node_cluster, "web-faults")["status"] == "FAILED"
    assert not (out / step / "manifest.json").exists()  # killed mid-step: that step is unfinished
    before = {k: v for k, v in _files(out).items() if k.startswith(finished + "/")}

    rerun_at = time.time()
    _submit(two_node_cluster, out, "web-faults-rerun", wait=False)  # default scheduling: its driver on the head
    resumed = _wait_mid_stage(out, since=rerun_at)
    node_killed_at = time.time()
    kill_cluster(two_node_cluster.node2_pgids, [two_node_cluster.node2_marker])
    job = _wait_job(two_node_cluster, "web-faults-rerun")
    assert job["status"] == "SUCCEEDED" and job["driver_node_id"] == head, job
    assert [n["node_id"] for n in alive_nodes(two_node_cluster.dashboard, two_node_cluster.token)] == [head]
    # the node died with work left: a step committed after its death, on the head alone
    assert any(m.stat().st_mtime > node_killed_at for m in out.glob("0*-*/manifest.json"))
    logs = _job_logs(two_node_cluster, "web-faults-rerun")
    assert "reused from an earlier run" in logs or "finished by an earlier run" in logs, logs[-3000:]
    # the step committed after the worker's death is the faulted job's own (not redone by the rerun) ...
    assert {k: v for k, v in _files(out).items() if k.startswith(finished + "/")} == before
    # ... and it, like every other step, is byte for byte the undisturbed run's
    assert _pipeline_digests(out) == web_reference.digests
    print(f"worker killed before {finished} committed; driver killed mid-way through {step}; "
          f"second node killed once the rerun committed a shard of {resumed}")
