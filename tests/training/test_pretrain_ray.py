"""Pretraining through Ray Train: one uninterrupted reference run, 2-worker DDP compared with it (same losses as 1
worker), the CLI. Two Ray Train runs in all. Elsewhere: a killed *worker* restarted by Ray Train (test_sft_dpo_ray),
FSDP2 and its bit-exact resume (test_fsdp_ray), and a killed 2-worker job on the 2-node cluster with its run folder
on s3:// resumed past a damaged checkpoint (tests/test_cluster_integration.py)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from dataprep.errors import UserError
from training.checkpoint import list_checkpoints, step_dir_name
from training.cli import app
from training.config import build_config
from training.loader import WindowLoader, num_windows, split_windows
from training.metrics import read_metrics
from training.shards import open_token_stream
from training.trainer import pretrain

from .conftest import REFERENCE_STEPS as STEPS
from .conftest import reference_overrides

DDP_STEPS = 30  # > 29 batches in an epoch: the run crosses an epoch boundary (asserted below)

pytestmark = pytest.mark.slow  # each test runs Ray Train (10-40 s on 2 cores)


def test_full_run_learns_and_writes_the_run_folder(full_run):
    metrics = read_metrics(full_run)
    losses = [m["loss"] for m in metrics]
    assert losses[-1] < losses[0] - 1.0  # Shakespeare, ~0.5M parameters, 40 steps: from ~6.2 down
    evals = [m for m in metrics if "val_loss" in m]
    assert [m["step"] for m in evals] == list(range(10, STEPS + 1, 10))
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]
    for key in ("step", "loss", "lr", "tokens_per_s", "mfu", "data_wait", "grad_norm", "tokens"):
        assert key in metrics[-1]
    assert metrics[-1]["mfu"] is None  # CPU: no honest peak to divide by
    assert 0 <= metrics[-1]["data_wait"] < 0.5
    assert (full_run / "config.yaml").is_file() and list((full_run / "tensorboard").iterdir())
    kept = [p.name for p in list_checkpoints(full_run)]
    assert kept == [step_dir_name(s) for s in range(20, STEPS + 1, 20)]


def test_two_worker_ddp_ranks_see_disjoint_windows_and_train_like_one_worker(tmp_path, full_run, tokens_ds,
                                                                              ray_address):
    """2 workers x 2 windows read, step for step, the same global batch as full_run's 1 worker x 4 windows (the
    loader deals global batch g's block r to rank r), and DDP averages gradients: the losses must match. Fewer
    steps than the reference: its schedule does not depend on `steps`, so its first DDP_STEPS are the comparison."""
    run = tmp_path / "ddp"
    cfg = build_config(None, None, reference_overrides(steps=DDP_STEPS, num_workers=2, batch_size=2,
                                                       log_windows=True, data=tokens_ds))
    result = pretrain(cfg, run)
    assert result.metrics["step"] == DDP_STEPS and "val_loss" in result.metrics
    per_rank = [
        [json.loads(line) for line in (run / "windows" / f"rank-{r}.jsonl").read_text().splitlines()] for r in range(2)
    ]
    assert [len(p) for p in per_rank] == [DDP_STEPS, DDP_STEPS]
    # Exactly the windows the loader's (seed, epoch, world size) order promises, never shared within a step.
    stream = open_token_stream(tokens_ds)
    train, _ = split_windows(num_windows(stream, 64), 0.05)
    loaders = [WindowLoader(stream, 64, 2, cfg.seed, rank=r, world_size=2, windows=train) for r in range(2)]
    single = WindowLoader(stream, 64, 4, cfg.seed, windows=train)
    assert loaders[0].batches_per_epoch == single.batches_per_epoch < DDP_STEPS  # the run crosses an epoch boundary
    for step, (rec0, rec1) in enumerate(zip(*per_rank)):
        epoch, batch = divmod(step, single.batches_per_epoch)
        assert rec0["epoch"] == rec1["epoch"] == epoch
        assert rec0["windows"] == loaders[0].window_ids(epoch, batch).tolist()
        assert rec1["windows"] == loaders[1].window_ids(epoch, batch).tolist()
        assert not set(rec0["windows"]) & set(rec1["windows"])
        assert rec0["windows"] + rec1["windows"] == single.window_ids(epoch, batch).tolist()
    metrics = read_metrics(run)
    assert metrics[-1]["tokens"] == DDP_STEPS * 2 * 64 * 2
    state = json.loads((list_checkpoints(run)[-1] / "state.json").read_text())
    assert state["world_size"] == 2

    two = [m["loss"] for m in metrics]
    one = [m["loss"] for m in read_metrics(full_run) if m["step"] <= DDP_STEPS]
    assert len(two) == DDP_STEPS and two == pytest.approx(one, rel=1e-4, abs=1e-4)
    two_val = [m["val_loss"] for m in metrics if "val_loss" in m]
    one_val = [m["val_loss"] for m in read_metrics(full_run) if "val_loss" in m and m["step"] <= DDP_STEPS]
    assert len(two_val) == len(one_val) == 3  # steps 10, 20, 30
    assert two_val == pytest.approx(one_val, rel=1e-4, abs=1e-4)  # held-out windows dealt to ranks, averaged

    # Resuming with another world size is refused before any worker starts.
    with pytest.raises(UserError, match="workers"):
        pretrain(build_config(None, None, reference_overrides(steps=DDP_STEPS + 2, num_workers=1,
                                                         batch_size=2, data=tokens_ds)), run, resume=True)


def test_cli_eval_and_one_line_errors(full_run, tokens_ds, val_ds, other_tokenizer_ds, tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["eval", "--checkpoint", str(full_run), "--data", val_ds, "--max-batches", "4"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout.strip().splitlines()[-1])
    windows = num_windows(open_token_stream(val_ds), 64)
    assert result["step"] == STEPS and result["tokens"] == min(windows, 4 * 8) * 64
    assert result["perplexity"] == pytest.approx(torch.tensor(result["loss"]).exp().item(), rel=1e-5)
    assert result["loss"] < 6.0

    bad = runner.invoke(app, ["eval", "--checkpoint", str(full_run), "--data", other_tokenizer_ds])
    assert bad.exit_code == 1 and "tokenizer" in bad.output and "Traceback" not in bad.output

    missing = runner.invoke(app, ["pretrain", "--data", str(tmp_path / "nope"), "-o", str(tmp_path / "r")])
    assert missing.exit_code == 1 and "does not exist" in missing.output

    nothing = runner.invoke(app, ["pretrain", "-o", str(tmp_path / "empty"), "--resume"])
    assert nothing.exit_code == 1 and "not a run folder" in nothing.output

    # The same data and config as the finished run but for `steps`: refused for that reason, naming the key.
    same_but_steps = [a for item in reference_overrides(steps=5) for a in ("--set", item)]
    changed = runner.invoke(app, ["pretrain", "--data", tokens_ds, "-o", str(full_run), *same_but_steps])
    assert changed.exit_code == 1 and "already holds a run with a different config (steps)" in " ".join(
        changed.output.split())
