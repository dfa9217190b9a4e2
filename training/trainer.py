"""Driver side of pretraining: check the inputs and the run folder, then run the loop under TorchTrainer.

The run folder is Ray Train's storage (`RunConfig(storage_path=RUN, name="checkpoints")`), so a rerun with
the same folder finds Ray Train's snapshot and every worker gets the latest checkpoint back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml

from dataprep.dataset import open_dataset
from dataprep.errors import UserError
from training.checkpoint import CHECKPOINTS, latest_state, list_checkpoints
from training.config import TrainConfig
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
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, UserError):
            return str(e)
        stack.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
        stack.extend(getattr(e, "worker_failures", {}).values())
    return None


def pretrain(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, joined_cluster: bool = False):
    """Run (or continue) pretraining into `run_dir`; Ray must already be initialised. Returns Ray's Result."""
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from training.loop import train_func
    from training.ray_launch import cluster_cpus

    run_dir = Path(run_dir).expanduser().resolve()
    tokenizer_sha = check_inputs(cfg)
    check_run_folder(cfg, run_dir, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(cfg.to_yaml())

    cpus = cfg.cpus_per_worker or (1 if joined_cluster else max(1, cluster_cpus() // cfg.num_workers))
    trainer = TorchTrainer(
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
    try:
        return trainer.fit()
    except ray.train.TrainingFailedError as exc:
        message = user_error_of(exc)
        if message:
            raise UserError(message) from None
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln.strip() for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "unknown")
        raise UserError(f"training failed: {detail} (see the Ray logs above)") from None


def completed_checkpoints(run_dir: str | Path) -> list[Path]:
    return list_checkpoints(run_dir)
