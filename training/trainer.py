"""Driver side of pretraining: check the inputs and the run folder, then run the loop under TorchTrainer.

The run folder is Ray Train's storage (`RunConfig(storage_path=RUN, name="checkpoints")`), so a rerun with
the same folder finds Ray Train's snapshot and every worker gets the latest checkpoint back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import yaml

from dataprep.dataset import open_dataset
from dataprep.cli_errors import find_user_error
from dataprep.errors import UserError
from training.checkpoint import CHECKPOINTS, latest_state
from training.config import TrainConfig
from training.model import model_config
from training.shards import same_tokenizer, tokenizer_info

CONFIG_FILE = "config.yaml"


def saved_config(run_dir: Path) -> Optional[dict[str, Any]]:
    path = run_dir / CONFIG_FILE
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def check_inputs(cfg: TrainConfig) -> str:
    """Open the datasets' manifests (not their shards) and return the shared tokenizer's sha256."""
    if not cfg.data:
        raise UserError("no training data: pass --data TOKENS")
    urls = [cfg.data] + ([cfg.val_data] if cfg.val_data else [])
    infos = [(u, tokenizer_info(open_dataset(u, kind="tokens"))) for u in urls]
    return same_tokenizer(infos).sha256


def check_model(cfg: TrainConfig) -> None:
    """The workers build this model; a bad shape is the user's to fix, before any worker starts."""
    try:
        model_config(cfg.model, 1024, cfg.seq_len)
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad model config {cfg.model!r}: {exc}") from None


def check_run_folder(cfg: TrainConfig, run_dir: Path, resume: bool) -> None:
    """Refuse what cannot continue exactly: a different config without --resume, another world size."""
    state = latest_state(run_dir)
    if resume and state is None:
        raise UserError(f"--resume: {run_dir} has no checkpoint to resume from")
    if state is None:
        return
    previous = saved_config(run_dir)
    if not resume and previous is not None and previous != cfg.model_dump():
        changed = sorted(k for k in cfg.model_dump() if previous.get(k) != cfg.model_dump()[k])
        raise UserError(
            f"{run_dir} already holds a run with a different config ({', '.join(changed)}); "
            "pass --resume to continue it with these changes, or choose a new -o folder"
        )
    if state["world_size"] != cfg.num_workers:
        raise UserError(
            f"{run_dir}'s checkpoints were written by {state['world_size']} workers, this run asks for "
            f"{cfg.num_workers}; the window order depends on the world size, so keep num_workers={state['world_size']}"
        )
    for key in ("model", "seq_len", "batch_size", "seed", "data", "val_data", "val_fraction", "vocab_multiple"):
        if state["config"].get(key) != cfg.model_dump()[key]:
            raise UserError(
                f"cannot resume {run_dir}: {key} was {state['config'].get(key)!r} and is now {cfg.model_dump()[key]!r}"
            )


def user_error_of(exc: BaseException) -> Optional[str]:
    """The message of a UserError raised in a worker, digging through Ray's wrappers."""
    found = find_user_error(exc)
    return str(found) if found is not None else None


def build_trainer(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, joined_cluster: bool = False):
    """Check everything that can be checked up front, write config.yaml, and return the TorchTrainer to fit."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from training.loop import train_func

    run_dir = Path(run_dir).expanduser().resolve()
    tokenizer_sha = check_inputs(cfg)
    check_model(cfg)
    check_run_folder(cfg, run_dir, resume)
    have = ray.cluster_resources()
    cpus = cfg.cpus_per_worker or (1 if joined_cluster else max(1, int(have.get("CPU", 1)) // cfg.num_workers))
    if not joined_cluster:  # a cluster may autoscale; a local Ray never grows, so ask only what it has
        for name, need in (("CPU", cpus * cfg.num_workers), ("GPU", cfg.num_workers if cfg.use_gpu else 0)):
            if need > have.get(name, 0):
                raise UserError(
                    f"{cfg.num_workers} workers need {need:g} {name}s but this machine's Ray has {have.get(name, 0):g}; "
                    "lower num_workers / cpus_per_worker, or join a cluster with --address"
                )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(cfg.to_yaml())

    # Ray Train's controller collects reports on this poll (default 2 s), and a worker's next report waits
    # for the previous one to be collected; 0.5 s keeps checkpoints of short runs from stalling.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    return TorchTrainer(
        train_func,
        train_loop_config={
            "config": cfg.model_dump(),
            "run_dir": str(run_dir),
            "tokenizer_sha256": tokenizer_sha,
            "cpus_per_worker": cpus,
        },
        scaling_config=ScalingConfig(
            num_workers=cfg.num_workers,
            use_gpu=cfg.use_gpu,
            resources_per_worker={"CPU": cpus, **({"GPU": 1} if cfg.use_gpu else {})},
        ),
        run_config=RunConfig(
            name=CHECKPOINTS,
            storage_path=str(run_dir),
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
            failure_config=FailureConfig(max_failures=cfg.max_failures),
            logging_config=LoggingConfig(log_level="WARNING"),  # per-report INFO lines would drown the progress
        ),
    )


def fit(trainer):
    """Run the trainer; a worker's UserError comes back as that one line, other failures as their last error line."""
    import ray.train

    try:
        return trainer.fit()
    except ray.train.TrainingFailedError as exc:
        message = user_error_of(exc)
        if message:
            raise UserError(message) from None
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln.strip() for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "unknown")
        raise UserError(f"training failed: {detail} (see Ray's worker logs)") from None


def pretrain(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, joined_cluster: bool = False):
    """Run (or continue) pretraining into `run_dir`; Ray must already be initialised. Returns Ray's Result."""
    return fit(build_trainer(cfg, run_dir, resume, joined_cluster))
