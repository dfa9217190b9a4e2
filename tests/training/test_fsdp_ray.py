"""FSDP2 (`fully_shard`) on CPU with gloo, through Ray Train: 2 workers give the 1-worker reference run's losses
(rtol 1e-5) over its first 5 steps (its schedule does not depend on `steps`: see `reference_overrides`); sharded
checkpoints (per-rank optimizer safetensors, one gathered model.safetensors) resume bit-exact at
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

from .conftest import reference_overrides

STEPS = 5


def _losses(run) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in read_metrics(run) if "loss" in m}


@pytest.mark.slow  # two Ray Train runs of 2 workers (one resumed) of the tiny model: ~40 s on 2 cores
def test_fsdp_two_workers_match_one_and_resume_exactly(tmp_path, full_run, tokens_ds, val_ds, ray_address):
    fsdp_cfg = build_config(None, None, reference_overrides(steps=STEPS, checkpoint_every=3, data=tokens_ds,
                                                            num_workers=2, batch_size=1, grad_accum=2,
                                                            parallel="fsdp"))  # 2 x 1 x 2 windows: the reference's 4
    two = tmp_path / "two"
    pretrain(fsdp_cfg, two)
    expected, got = _losses(full_run), _losses(two)
    assert sorted(got) == list(range(1, STEPS + 1))
    assert got == pytest.approx({s: expected[s] for s in got}, rel=1e-5, abs=0)

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
