"""Driver side of training (pretrain, sft, dpo): check the inputs and the run folder, then run the loop under
TorchTrainer.

The run folder (a local path or any fsspec URL, training.runfolder) is Ray Train's storage
(`RunConfig(storage_path=RUN, name="checkpoints")`, through a pyarrow filesystem for object stores), so a rerun
with the same folder finds Ray Train's snapshot and every worker gets the latest checkpoint back. The tokenizer
is copied into the run folder at start (RUN/tokenizer.model, checked by sha256) and into every checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from dataprep.dataset import open_dataset
from dataprep.cli_errors import find_user_error
from dataprep.errors import UsageError, UserError
from training.checkpoint import (
    CHECKPOINTS,
    TOKENIZER,
    checkpoint_names,
    damage,
    damaged_newest,
    find_checkpoint,
    local_checkpoint,
    latest_state,
    read_state,
    read_tokenizer,
)
from training.config import TrainConfig
from training.model import model_config
from training.objectives import OBJECTIVES
from training.rows import require_layout
from training.runfolder import RunFolder, storage_env
from training.verify import verify_shards
from training.shards import same_tokenizer, tokenizer_info

CONFIG_FILE = "config.yaml"


@dataclass
class RunInputs:
    tokenizer_sha256: str
    tokenizer_model: bytes  # the sentencepiece model the data was tokenized with
    init_dir: Optional[Path] = None  # sft/dpo: the checkpoint folder the run starts from (a local copy)
    init_url: Optional[str] = None  # ... and where it is (what the workers are given)
    vocab_size: int = 0  # the data's tokenizer's


def saved_config(run: str | Path | RunFolder) -> Optional[dict[str, Any]]:
    folder = run if isinstance(run, RunFolder) else RunFolder(run)
    text = folder.read_text(CONFIG_FILE)
    return yaml.safe_load(text) if text is not None else None


def check_inputs(cfg: TrainConfig) -> RunInputs:
    """Open the datasets' manifests (not their shards): one tokenizer, the objective's token layout, and for
    sft/dpo an --init checkpoint with that same tokenizer and a context of at least seq_len."""
    if not cfg.data:
        raise UsageError("no training data: pass --data TOKENS")
    urls = [cfg.data] + ([cfg.val_data] if cfg.val_data else [])
    datasets = [open_dataset(u, kind="tokens") for u in urls]
    layouts = OBJECTIVES[cfg.objective].layouts
    if layouts is not None:
        for ds in datasets:
            require_layout(ds, layouts, cfg.objective)
    info = same_tokenizer([(ds.url, tokenizer_info(ds)) for ds in datasets])
    for ds in datasets:
        check_enough_tokens(ds, cfg.seq_len)
    if cfg.objective == "pretrain":
        if cfg.init:
            raise UsageError("pretraining starts from scratch; to start from a checkpoint use `training sft --init`")
        return RunInputs(info.sha256, data_tokenizer(datasets[0], info.sha256), vocab_size=info.vocab_size)
    if not cfg.init:
        raise UsageError(f"`training {cfg.objective}` needs --init CHECKPOINT (a run folder or a checkpoint folder)")
    init_url = find_checkpoint(cfg.init)
    init_dir = local_checkpoint(init_url)
    state = read_state(init_dir)
    init_sha = state.get("tokenizer", {}).get("sha256")
    if init_sha != info.sha256:
        raise UserError(
            f"--init {init_dir} was trained with tokenizer {str(init_sha)[:12]}, but {datasets[0].url} was tokenized "
            f"with {info.sha256[:12]}; tokenize the data with the checkpoint's tokenizer.model"
        )
    context = int(state["model_config"]["max_seq_len"])
    if cfg.seq_len > context:
        raise UsageError(f"seq_len {cfg.seq_len} exceeds the --init model's context of {context} tokens; "
                        f"use --set seq_len={context} or less")
    return RunInputs(info.sha256, read_tokenizer(init_dir), init_dir, init_url, info.vocab_size)


def data_urls(cfg: TrainConfig) -> list[str]:
    return [cfg.data] + ([cfg.val_data] if cfg.val_data else [])


def check_enough_tokens(ds, seq_len: int) -> None:
    """A dataset with no tokens, or fewer than one window of seq_len + 1, is refused from its manifest alone."""
    tokens = ds.manifest.tokens or 0
    if tokens == 0:
        raise UserError(f"{ds.url} holds no tokens; tokenize a non-empty dataset with `dataprep tokenize`")
    if ds.manifest.provenance.get("token_layout", "documents") == "documents" and tokens < seq_len + 1:
        raise UserError(f"{ds.url} has {tokens:,} tokens, fewer than one window of seq_len + 1 = {seq_len + 1:,}; "
                        "lower seq_len (--set seq_len=N) or train on more data")


def data_tokenizer(ds, sha256: str) -> bytes:
    """The tokenizer model a tokens dataset records (provenance.tokenizer.model), checked by sha256."""
    from dataprep.tokenizer.model import read_model_bytes

    url = ds.manifest.provenance.get("tokenizer", {}).get("model")
    if not url:
        raise UserError(f"{ds.url} does not record where its tokenizer model is; re-tokenize it with `dataprep tokenize`")
    data = read_model_bytes(str(url))
    if hashlib.sha256(data).hexdigest() != sha256:
        raise UserError(f"the tokenizer model {url} changed since {ds.url} was tokenized (sha256 differs)")
    return data


def install_tokenizer(folder: RunFolder, model: bytes) -> None:
    """RUN/tokenizer.model: a copy of the run's tokenizer, so the run folder is self-sufficient; never replaced."""
    sha = hashlib.sha256(model).hexdigest()
    present = folder.read_bytes(TOKENIZER)
    if present is not None:
        if hashlib.sha256(present).hexdigest() != sha:
            raise UserError(f"{folder.url_of(TOKENIZER)} is another tokenizer than the data's ({sha[:12]}); "
                            "choose a new -o folder")
        return
    folder.write_bytes(TOKENIZER, model)


def check_model(cfg: TrainConfig) -> None:
    """The workers build this model; a bad shape is the user's to fix, before any worker starts."""
    if cfg.init:
        return  # the model is the --init checkpoint's
    try:
        model_config(cfg.model, 1024, cfg.seq_len)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"bad model config {cfg.model!r}: {exc}") from None


def resume_warnings(run: str | Path | RunFolder) -> list[str]:
    """One line per checkpoint newer than the newest intact one (missing or damaged files), naming the one a
    resume will use. (File sizes here; the worker also checks sha256 and falls further back if needed.)"""
    damaged, intact = damaged_newest(run if isinstance(run, RunFolder) else RunFolder(run))
    then = f"trying {CHECKPOINTS}/{intact}" if intact else "no intact checkpoint left"
    return [f"warning: {why}; {then}" for _, why in damaged]


def set_aside_damaged(folder: RunFolder) -> list[str]:
    """Before a resume: checkpoints newer than the newest intact one (by size) are renamed `damaged-step-...` and
    Ray Train's snapshot, which still lists them, is dropped; otherwise the resumed run registers those steps a
    second time and Ray Train's clean-up deletes one folder twice. The resume then starts from our own listing.
    Returns the names set aside. (Damage only a sha256 shows is found in the workers, after Ray Train started.)"""
    damaged, intact = damaged_newest(folder)
    if not damaged or intact is None:  # nothing to set aside, or nothing to resume from: the worker refuses
        return []
    for name, _ in damaged:
        folder.move(f"{CHECKPOINTS}/{name}", f"{CHECKPOINTS}/damaged-{name}")
    snapshot = folder.fs_path(CHECKPOINTS, "checkpoint_manager_snapshot.json")
    if folder.fs.exists(snapshot):
        folder.fs.rm(snapshot)
    folder.fs.invalidate_cache()
    return [name for name, _ in damaged]


def run_model_config(cfg: TrainConfig, inputs: RunInputs):
    """The shape the workers will build: the --init checkpoint's, or cfg.model for the data's vocabulary."""
    from training.model import GPTConfig, padded_vocab

    if inputs.init_dir is not None:
        return GPTConfig.from_dict(read_state(inputs.init_dir)["model_config"])
    return model_config(cfg.model, padded_vocab(inputs.vocab_size, cfg.vocab_multiple), cfg.seq_len)


def check_memory(cfg: TrainConfig, inputs: RunInputs) -> None:
    """The memory pre-flight for a local Ray: every worker of this run lands on this machine."""
    from training.memory import check_fits

    check_fits(cfg, run_model_config(cfg, inputs), cfg.use_gpu, cfg.num_workers, workers_here=cfg.num_workers)


def check_run_folder(cfg: TrainConfig, run_dir: str | Path, resume: bool) -> None:
    """Refuse what cannot continue exactly: a different config without --resume, another world size."""
    folder = RunFolder(run_dir)
    state = latest_state(folder)
    if state is None and checkpoint_names(folder):
        reasons = "; ".join(filter(None, (damage(folder, n) for n in checkpoint_names(folder))))
        raise UserError(f"{folder} has checkpoints but none is intact ({reasons}); it cannot be continued, and "
                        "starting it over would hide that: choose a new -o folder")
    if resume and state is None:
        raise UserError(f"--resume: {folder} has no checkpoint to resume from")
    if state is None:
        return
    run_dir = folder.url
    previous = saved_config(folder)
    if not resume and previous is not None and previous != cfg.model_dump():
        changed = sorted(k for k in cfg.model_dump() if previous.get(k) != cfg.model_dump()[k])
        raise UserError(
            f"{run_dir} already holds a run with a different config ({', '.join(changed)}); "
            "pass --resume to continue it with these changes, or choose a new -o folder"
        )
    if state["world_size"] != cfg.num_workers:
        raise UserError(
            f"{run_dir}'s checkpoints were written by {state['world_size']} workers, this run asks for "
            f"{cfg.num_workers}; the batch order depends on the world size, so keep num_workers={state['world_size']}"
        )
    for key in ("objective", "init", "model", "seq_len", "batch_size", "seed", "data", "val_data", "val_fraction",
                "vocab_multiple", "packing", "precompute_ref"):
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

    folder = RunFolder(run_dir)
    inputs = check_inputs(cfg)
    check_model(cfg)
    check_run_folder(cfg, folder.url, resume)
    set_aside_damaged(folder)  # a run continued past damage
    if not joined_cluster:
        check_memory(cfg, inputs)  # a joined cluster's workers check their own device before the first step
    have = ray.cluster_resources()
    cpus = cfg.cpus_per_worker or (1 if joined_cluster else max(1, int(have.get("CPU", 1)) // cfg.num_workers))
    if not joined_cluster:  # a cluster may autoscale; a local Ray never grows, so ask only what it has
        for name, need in (("CPU", cpus * cfg.num_workers), ("GPU", cfg.num_workers if cfg.use_gpu else 0)):
            if need > have.get(name, 0):
                raise UserError(
                    f"{cfg.num_workers} workers need {need:g} {name}s but this machine's Ray has {have.get(name, 0):g}; "
                    "lower num_workers / cpus_per_worker, or join a cluster with --address"
                )
    verify_shards(data_urls(cfg), folder)  # local shards hashed once per run (remembered in the run folder)
    install_tokenizer(folder, inputs.tokenizer_model)
    folder.write_bytes(CONFIG_FILE, cfg.to_yaml().encode())
    filesystem, storage_path = folder.ray_storage()

    # Ray Train's controller collects reports on this poll (default 2 s), and a worker's next report waits
    # for the previous one to be collected; 0.5 s keeps checkpoints of short runs from stalling.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    return TorchTrainer(
        train_func,
        train_loop_config={
            "config": cfg.model_dump(),
            "run_dir": folder.url,
            "storage_env": storage_env(),  # the object-store settings reach the workers' fsspec as the driver's
            "tokenizer_sha256": inputs.tokenizer_sha256,
            "tokenizer_model": inputs.tokenizer_model,
            "init_dir": inputs.init_url,
            "cpus_per_worker": cpus,
            "check_memory": joined_cluster,
        },
        scaling_config=ScalingConfig(
            num_workers=cfg.num_workers,
            use_gpu=cfg.use_gpu,
            resources_per_worker={"CPU": cpus, **({"GPU": 1} if cfg.use_gpu else {})},
        ),
        run_config=RunConfig(
            name=CHECKPOINTS,
            storage_path=storage_path,
            storage_filesystem=filesystem,
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
            failure_config=FailureConfig(max_failures=cfg.max_failures),
            logging_config=LoggingConfig(log_level="WARNING"),  # per-report INFO lines would drown the progress
        ),
    )


def fit(trainer):
    """Run the trainer; a worker's UserError comes back as that one line, other failures as their last error line."""
    import ray.exceptions
    import ray.train

    try:
        return trainer.fit()
    except (ray.train.TrainingFailedError, ray.exceptions.RayError) as exc:
        # RayError: the controller or a worker's actor died outside Ray Train's own failure handling
        # (ActorDiedError, a lost node): one line, never Ray's multi-line dump.
        message = user_error_of(exc)
        if message:
            raise UserError(message) from None
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln.strip() for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "unknown")
        raise UserError(f"training failed: {type(exc).__name__}: {detail[:300]} (see Ray's worker logs; "
                        "rerun with --resume to continue from the newest intact checkpoint)") from None


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, joined_cluster: bool = False):
    """Run (or continue) cfg.objective's training into `run_dir`; Ray must already be initialised. Returns Ray's
    Result."""
    return fit(build_trainer(cfg, run_dir, resume, joined_cluster))


pretrain = train  # the objective is in the config: pretraining unless it says sft or dpo
