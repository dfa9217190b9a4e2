"""FSDP2 (`fully_shard`) on CPU with gloo, through Ray Train: 2 workers give 1 worker's losses (rtol 1e-5) over 5
steps; sharded checkpoints (per-rank optimizer safetensors, one gathered model.safetensors) resume bit-exact at
the same world size, and `training eval` reads them like any other run."""

from __future__ import annotations

import shutil

import pytest
from safetensors import safe_open

from training.checkpoint import checkpoint_names, read_state
from training.config import build_config
from training.evaluate import evaluate_checkpoint
from training.metrics import read_metrics
from training.trainer import pretrain

from .conftest import tiny_overrides

STEPS = 5


def _losses(run) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in read_metrics(run) if "loss" in m}


@pytest.mark.slow  # three Ray Train runs (two of 2 workers) of the tiny model: ~60 s on 2 cores
def test_fsdp_two_workers_match_one_and_resume_exactly(tmp_path, tokens_ds, val_ds, ray_address):
    common = dict(steps=STEPS, checkpoint_every=3, data=tokens_ds, eval_every=0, val_fraction=0.0, grad_accum=2)
    one = tmp_path / "one"
    pretrain(build_config(None, None, tiny_overrides(**common, num_workers=1, batch_size=4)), one)
    fsdp_cfg = build_config(None, None, tiny_overrides(**common, num_workers=2, batch_size=2, parallel="fsdp"))
    two = tmp_path / "two"
    pretrain(fsdp_cfg, two)
    expected, got = _losses(one), _losses(two)
    assert sorted(got) == list(range(1, STEPS + 1))
    assert got == pytest.approx(expected, rel=1e-5, abs=0)

    last = two / "checkpoints" / checkpoint_names(two)[-1]
    names = {p.name for p in last.iterdir()}
    assert {"optimizer-rank-00000-of-00002.safetensors", "optimizer-rank-00001-of-00002.safetensors",
            "model.safetensors", "rng.safetensors", "state.json"} <= names and not any(n.endswith(".pt") for n in names)
    with safe_open(str(last / "model.safetensors"), framework="pt") as f:  # the whole model, gathered
        assert f.get_slice("embed.weight").get_shape()[1] == 128
    assert read_state(last)["sharded"] is True

    # Resume from step 3: the same run folder without its last checkpoint and without Ray Train's record of it.
    resumed = tmp_path / "resumed"
    shutil.copytree(two, resumed)
    shutil.rmtree(resumed / "checkpoints" / checkpoint_names(two)[-1])
    (resumed / "checkpoints" / "checkpoint_manager_snapshot.json").unlink()
    pretrain(fsdp_cfg, resumed)
    assert _losses(resumed) == got  # steps 4-5 again, bit for bit

    result = evaluate_checkpoint(resumed, val_ds, batch_size=2, max_batches=2)
    assert result["step"] == STEPS and result["loss"] > 0
