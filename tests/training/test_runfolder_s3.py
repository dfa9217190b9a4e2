"""A run folder on object storage (moto's S3 server on loopback): `training pretrain -o s3://...` trains with
checkpoints through Ray Train's storage and metrics through fsspec; the newest checkpoints are then damaged
(one cut short, one with a flipped byte), and `--resume` falls back to the newest intact one and re-trains the
same losses bit for bit; `training eval` reads the run from s3:// too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest
from typer.testing import CliRunner

from training.checkpoint import checkpoint_names, damage
from training.cli import app
from training.metrics import read_metrics
from training.runfolder import RunFolder, s3_options

from .conftest import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]
RUN = "s3://runs/tiny"
STEPS = 8


@pytest.fixture(scope="module")
def s3_settings():
    """moto's S3 server on a free loopback port; its settings as fsspec's FSSPEC_S3 (for the CLI subprocess, whose
    Ray workers get them from the driver) and in this process's fsspec config."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    conf = {"key": "test", "secret": "test",
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}}
    saved = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = conf
    import boto3

    boto3.client("s3", endpoint_url=conf["client_kwargs"]["endpoint_url"], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="runs")
    yield conf
    if saved is None:
        fsspec.config.conf.pop("s3", None)
    else:
        fsspec.config.conf["s3"] = saved
    server.stop()


def _pretrain(data: str, address: str, conf: dict, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "training.cli", "pretrain", "--data", data, "-o", RUN, "--address", address]
    for item in tiny_overrides(steps=STEPS, checkpoint_every=2, keep_checkpoints=4, eval_every=4):
        cmd += ["--set", item]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    env["FSSPEC_S3"] = json.dumps(conf)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    return subprocess.run(cmd + list(extra), env=env, capture_output=True, text=True, timeout=240)


def test_pyarrow_s3_settings_follow_fsspec(s3_settings):
    options = s3_options()
    assert options["endpoint_override"] == s3_settings["client_kwargs"]["endpoint_url"].split("//")[1]
    assert options["scheme"] == "http" and options["access_key"] == "test" and options["region"] == "us-east-1"


@pytest.mark.slow  # two Ray Train runs of a tiny model through the CLI (about 20 s each on 2 cores)
def test_s3_run_folder_trains_resumes_past_damage_and_evaluates(s3_settings, tokens_ds, val_ds, ray_address):
    first = _pretrain(tokens_ds, ray_address, s3_settings)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not Path.cwd().joinpath("s3:").exists()  # the URL stayed a URL
    folder = RunFolder(RUN)
    assert {"config.yaml", "tokenizer.model", "metrics.jsonl", "events.jsonl"} <= set(folder.listdir())
    names = checkpoint_names(folder)
    assert names == [f"step-{s:08d}" for s in (2, 4, 6, 8)] and all(damage(folder, n) is None for n in names)
    expected = {m["step"]: m["loss"] for m in read_metrics(RUN) if "loss" in m}
    assert sorted(expected) == list(range(1, STEPS + 1))
    assert json.loads(first.stdout.strip().splitlines()[-1])["step"] == STEPS

    # Damage the two newest checkpoints: step 8's weights cut short (a size the listing sees), step 6's optimizer
    # with one flipped byte (same size: only its sha256 tells).
    fs = folder.fs
    weights = folder.fs_path("checkpoints", names[-1], "model.safetensors")
    fs.pipe_file(weights, fs.cat_file(weights)[:-100])
    optimizer = folder.fs_path("checkpoints", names[-2], "optimizer.safetensors")
    data = bytearray(fs.cat_file(optimizer))
    data[-1] ^= 1
    fs.pipe_file(optimizer, bytes(data))
    fs.invalidate_cache()

    resumed = _pretrain(tokens_ds, ray_address, s3_settings, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    warnings = [ln for ln in resumed.stderr.splitlines() if ln.startswith("warning:")]
    assert any("step-00000008/model.safetensors has" in ln for ln in warnings), resumed.stderr[-2000:]
    assert any("optimizer.safetensors does not match the sha256" in ln and "step-00000004" in ln
               for ln in warnings), resumed.stderr[-3000:]
    events = [json.loads(ln) for ln in folder.read_text("events.jsonl").splitlines()]
    resume = [e for e in events if e["event"] == "resume"]
    assert len(resume) == 1 and resume[0]["step"] == 4 and resume[0]["checkpoint"] == "step-00000004"
    got = {m["step"]: m["loss"] for m in read_metrics(RUN) if "loss" in m}
    assert got == expected  # steps 5-8 re-trained from step 4: the same losses, bit for bit (CPU)
    assert damage(folder, names[-1]) is None  # step 8 written again, whole

    result = CliRunner().invoke(app, ["eval", "--checkpoint", RUN, "--data", val_ds, "--max-batches", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["step"] == STEPS and out["tokens"] > 0 and out["loss"] > 0
