"""`training sft` and `training dpo` through Ray Train: run folders, exact resume after a killed worker, the DPO
start-up check and precomputed reference, evaluation of both. Two Ray Train runs in all (one restarted)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataprep.dataset import open_dataset
from training.checkpoint import list_checkpoints, read_state
from training.cli import app
from training.metrics import read_metrics

from .conftest import registered_checkpoints

pytestmark = pytest.mark.slow  # Ray Train runs: 15-30 s each on 2 cores

SFT_STEPS = 16


def sft_overrides(**extra) -> list[str]:
    base = {"seq_len": 128, "batch_size": 4, "lr": 2e-3, "warmup_steps": 2, "log_every": 1, "eval_every": 4,
            "eval_batches": 2, "checkpoint_every": 4, "cpus_per_worker": 1, "max_failures": 0, "val_fraction": 0.1,
            "steps": SFT_STEPS}
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def last_step(run: Path) -> int:
    steps = [m["step"] for m in read_metrics(run) if "loss" in m]
    return max(steps) if steps else 0


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, sft_ds, init_checkpoint, ray_address) -> dict:
    """`training sft` whose worker is killed (SIGKILL) two steps past a checkpoint: Ray Train restarts it from
    that checkpoint, and the steps it runs again must repeat the killed attempt's exactly. The metrics the killed
    attempt logged for them are kept aside (the resumed run replaces those lines)."""
    run = tmp_path_factory.mktemp("sft") / "run"
    seen: dict = {}

    def kill_worker_past_a_checkpoint():
        deadline = time.time() + 180
        while time.time() < deadline:
            registered = registered_checkpoints(run)
            if registered and last_step(run) >= int(registered[-1].split("-")[1]) + 2:
                seen["metrics"] = read_metrics(run)
                start = json.loads((run / "events.jsonl").read_text().splitlines()[0])
                os.kill(start["pid"], signal.SIGKILL)
                seen["pid"] = start["pid"]
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_worker_past_a_checkpoint)
    killer.start()
    out = CliRunner().invoke(app, ["sft", "--data", sft_ds, "--init", str(init_checkpoint), "-o", str(run),
                                   "--address", ray_address, *sets(sft_overrides(max_failures=1))])
    killer.join()
    assert out.exit_code == 0, out.output
    return {"run": run, "output": out.output, "before_kill": seen.get("metrics"), "pid": seen.get("pid")}


def test_sft_run_folder_is_self_sufficient_and_learns(sft_run, sft_ds, init_checkpoint):
    run, output = sft_run["run"], sft_run["output"]
    data_sha = open_dataset(sft_ds).manifest.provenance["tokenizer"]["sha256"]
    assert hashlib.sha256((run / "tokenizer.model").read_bytes()).hexdigest() == data_sha
    for checkpoint in list_checkpoints(run):
        state = read_state(checkpoint)
        assert hashlib.sha256((checkpoint / "tokenizer.model").read_bytes()).hexdigest() == state["tokenizer"]["sha256"]
        assert state["objective"] == "sft" and state["init"] == str(init_checkpoint)
        assert state["model_config"] == read_state(init_checkpoint)["model_config"]  # the init's model and context
    start = json.loads((run / "events.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["sft_truncated"] > 0 and start["sft_dropped"] > 0
    assert f"sft_truncated {start['sft_truncated']}" in output and "sft_dropped" in output  # printed at start
    metrics = read_metrics(run)
    evals = [m for m in metrics if "val_loss" in m]
    assert [m["step"] for m in evals] == [0, 4, 8, 12, 16]  # the starting model's held-out loss first
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]
    assert [m["step"] for m in metrics if "loss" in m] == list(range(1, SFT_STEPS + 1))

    # `training eval` on dialogues: the same held-out objective (assistant tokens only), in-process.
    out = CliRunner().invoke(app, ["eval", "--checkpoint", str(run), "--data", sft_ds, "--max-batches", "2"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["objective"] == "sft" and result["layout"] == "dialogues" and result["tokens"] > 0
    assert result["perplexity"] == pytest.approx(2.718281828 ** result["loss"], rel=1e-5)


def test_sft_resumes_exactly_after_a_killed_worker(sft_run):
    """The packing plan's position, weights, optimizer and RNG come back from the checkpoint: the steps run again
    after the kill give bit-identical losses."""
    run = sft_run["run"]
    assert sft_run["pid"] is not None, "the worker was never killed"
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "resume", "end"] and events[1]["pid"] != sft_run["pid"]
    resumed_at = events[1]["step"]
    final = {m["step"]: (m.get("loss"), m.get("val_loss")) for m in read_metrics(run)}
    again = {m["step"]: (m.get("loss"), m.get("val_loss")) for m in sft_run["before_kill"] if m["step"] > resumed_at}
    assert len(again) >= 2
    assert {step: final[step] for step in again} == again


def test_dpo_from_the_sft_run_with_precomputed_reference(tmp_path, sft_run, dpo_ds, ray_address):
    run = tmp_path / "dpo"
    overrides = sft_overrides(steps=6, eval_every=6, checkpoint_every=6, lr=1e-3, precompute_ref="true")
    out = CliRunner().invoke(app, ["dpo", "--data", dpo_ds, "--init", str(sft_run["run"]), "-o", str(run),
                                   "--address", ray_address, *sets(overrides)])
    assert out.exit_code == 0, out.output
    assert "start-up check: step-0 loss 0.6931 (ln 2 = 0.6931)" in out.output and ": ok" in out.output
    health = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()
              if json.loads(line)["event"] == "health"]
    assert len(health) == 1 and abs(health[0]["step0_loss"] - 0.693147) < 1e-4 and health[0]["ok"]
    meta = json.loads((run / "ref_logps" / "meta.json").read_text())
    state = read_state(list_checkpoints(run)[-1])
    assert meta["data"] == state["loader"]["fingerprint"] and meta["seq_len"] == 128
    metrics = read_metrics(run)
    for key in ("loss", "reward_margin", "reward_accuracy", "rewards_chosen", "rewards_rejected", "logps_chosen",
                "logps_rejected"):
        assert key in metrics[-1] and f"val_{key}" in metrics[-1]
    assert metrics[0]["step"] == 0 and metrics[0]["val_loss"] == pytest.approx(0.693147, abs=1e-4)
    assert state["objective"] == "dpo" and state["init"] == str(list_checkpoints(sft_run["run"])[-1])

    out = CliRunner().invoke(app, ["eval", "--checkpoint", str(run), "--data", dpo_ds, "--max-batches", "2"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["objective"] == "dpo" and result["pairs"] > 0 and "reward_accuracy" in result
    assert result["reference"] == state["init"]
