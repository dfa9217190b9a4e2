"""The per-worker training loop that Ray Train's TorchTrainer runs on every rank, for every objective.

Every rank builds the same model (from the same seed, or from the --init checkpoint), restores the latest
checkpoint that Ray Train hands it, and steps in lockstep; decisions to log, evaluate or checkpoint depend only
on the step number, so every rank calls the collectives and `ray.train.report` (a barrier) the same number of
times. What is learned (pretraining, SFT, DPO) is the objective's business (training.objectives); the step
itself and evaluation are training.engine's, shared with `training eval`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Optional

import torch

import ray.train
import ray.train.torch
from dataprep.errors import UserError
from training.checkpoint import (
    CHECKPOINTS,
    checkpoint_names,
    load_training_state,
    load_weights,
    DamagedCheckpoint,
    read_state,
    resolve_checkpoint,
    save_checkpoint,
    step_dir_name,
)
from training.config import TrainConfig
from training.cpu_kernels import use_cpu_kernels
from training.engine import accumulate_gradients, all_reduce_sum, autocast_for, evaluate, set_deterministic
from training.metrics import DataWait, MetricsLog, mfu, peak_flops
from training.model import GPT, GPTConfig, model_config, padded_vocab
from training.objectives import RunContext, make_objective
from training.optim import build_optimizer, build_scheduler
from training.runfolder import Mirror, RunFolder, apply_storage_env


def build_model(cfg: TrainConfig, vocab_size: int, init_dir: Optional[str]) -> GPT:
    """The run's model: the --init checkpoint's (shape and weights), or a fresh one seeded by cfg.seed."""
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and in every run
    if init_dir is None:
        return GPT(model_config(cfg.model, padded_vocab(vocab_size, cfg.vocab_multiple), cfg.seq_len))
    model = GPT(GPTConfig.from_dict(read_state(init_dir)["model_config"]))
    load_weights(init_dir, model)
    return model


def train_func(params: dict[str, Any]) -> None:
    """Ray Train entry point. `params`: config (dict), run_dir, tokenizer_sha256, tokenizer_model (bytes),
    init_dir (sft/dpo), cpus_per_worker."""
    apply_storage_env(params.get("storage_env") or {})  # before any fsspec or pyarrow client is made
    cfg = TrainConfig.model_validate(params["config"])
    if cfg.deterministic:
        set_deterministic()
    folder = RunFolder(params["run_dir"])
    init_dir = str(resolve_checkpoint(params["init_dir"])) if params.get("init_dir") else None  # a local copy
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    if device.type == "cpu" and params.get("cpus_per_worker"):
        torch.set_num_threads(int(params["cpus_per_worker"]))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 leftovers (optimizer, norms) use TF32 tensor cores
        torch.backends.cudnn.allow_tf32 = True

    objective = make_objective(cfg)
    data = objective.open_data(cfg, expect_tokenizer=params["tokenizer_sha256"])
    loader = data.loader(rank, world)
    model = build_model(cfg, data.tokenizer.vocab_size, init_dir)
    if params.get("check_memory"):  # a joined cluster: this worker's own device, before the first step
        from training.memory import check_fits

        check_fits(cfg, model.cfg, device.type == "cuda", world, workers_here=ctx.get_local_world_size())
    if device.type == "cpu":
        use_cpu_kernels(model)  # hand-written autograd where CPU has no fused kernels; same parameters
    model = model.to(device)
    model.checkpoint_blocks = cfg.activation_checkpointing
    model.flex_attention = cfg.compile and device.type == "cuda"  # eager flex attention materializes the scores
    sharded = cfg.parallel == "fsdp" and world > 1
    if sharded:
        shard_model(model, device, cfg.dtype)  # before the optimizer: it holds the sharded parameters
    optimizer = build_optimizer(model, cfg, device)
    scheduler = build_scheduler(optimizer, cfg)

    step, tokens_seen = 0, 0
    state, resumed_from, skipped = resume(folder, ray.train.get_checkpoint(), model, optimizer, scheduler, rank, world)
    if state is not None:
        loader.load_state_dict(state["loader"])
        step, tokens_seen = int(state["step"]), int(state["tokens"])
    mirror = Mirror(folder, pull=_own_files(rank, cfg))
    # DPO's reference table lives in the run folder when it is local; beside the mirror (per node) otherwise.
    objective.prepare(model, data, RunContext(device, rank, world, str(mirror.dir), init_dir, cfg.dtype))

    fwd_model = torch.compile(model) if cfg.compile else model
    # DDP when world > 1 (gloo on CPU, NCCL on GPU); FSDP's sharded model is its own wrapper
    ddp_model = fwd_model if sharded else ray.train.torch.prepare_model(fwd_model)
    # FSDP computes in bf16 through its mixed-precision parameters, not autocast
    autocast = partial(autocast_for, device, "fp32" if sharded else cfg.dtype)
    flops_per_token = model.flops_per_token(cfg.seq_len)
    peak = peak_flops(device, cfg.dtype, cfg.peak_tflops)
    log = MetricsLog(mirror.dir, resume_step=step) if rank == 0 else None
    if log is not None:
        for reason in skipped:  # newer checkpoints that could not be used: said once, in the run's history
            log.event("checkpoint_skipped", reason=reason, resumed_from=resumed_from)
        log.event(
            "resume" if state is not None else "start", step=step, world_size=world, device=str(device),
            pid=os.getpid(), objective=cfg.objective, checkpoint=resumed_from, deterministic=cfg.deterministic,
            peak=None if peak is None else {"part": peak.part, "precision": peak.precision, "tflops": peak.flops / 1e12},
            **data.summary,
        )
        mirror.push()
    window_log = _window_log(mirror.dir, rank, step) if cfg.log_windows else None

    def run_eval() -> dict[str, float]:
        val = evaluate(fwd_model, objective, data.eval_batches(rank, world, cfg.eval_batches), device, world, autocast)
        return {f"val_{k}": v for k, v in val.items() if k != "count"}

    if cfg.eval_at_start and step == 0 and data.has_eval():
        record = {"step": 0, **run_eval()}
        if log is not None:
            log.write(record)

    fresh = step == 0
    warming_up = cfg.compile  # the first step compiles: timed apart, not in the first interval's throughput
    interval_start = time.perf_counter()
    wait = DataWait(device)
    # [tokens since the last log, tokens in timed steps]: one all-reduce gives both
    interval_tokens = torch.zeros(2, dtype=torch.float64, device=device)
    run_start = time.perf_counter()
    while step < cfg.steps:
        lr = optimizer.param_groups[0]["lr"]
        batches = []
        for _ in range(cfg.grad_accum):
            wait.host_start()
            if window_log is not None:
                window_log.write(json.dumps({"step": step + 1, "epoch": loader.epoch, "windows": loader.next_ids()}) + "\n")
            batch = loader.next_batch()
            interval_tokens += batch.num_tokens
            batches.append(wait.copy(batch))
        sums = accumulate_gradients(ddp_model, objective, batches, world, autocast)
        if fresh and hasattr(objective, "health"):  # the policy still equals its start: a known loss
            check = objective.health(sums.reduced(world))
            if log is not None:
                log.event("health", objective=cfg.objective, **check)
        fresh = False
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip) if cfg.grad_clip > 0 else None
        )
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if warming_up:
            warming_up = False
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if log is not None:
                log.event("compiled", step=step, seconds=time.perf_counter() - interval_start)
            interval_start, wait = time.perf_counter(), DataWait(device)
            interval_tokens[1] = 0

        do_log = step % cfg.log_every == 0 or step == cfg.steps
        do_eval = data.has_eval() and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps)
        do_ckpt = step % cfg.checkpoint_every == 0 or step == cfg.steps
        do_report = do_eval or do_ckpt or step % cfg.report_every == 0
        if not (do_log or do_report):
            continue

        means = sums.reduced(world)  # .tolist() also waits for the GPU, so timings are true
        step_tokens, timed_tokens = all_reduce_sum(interval_tokens, world).tolist()
        tokens_seen += int(step_tokens)
        elapsed = time.perf_counter() - interval_start
        tps = timed_tokens / elapsed if timed_tokens else None  # None: the interval was the compile step alone
        record: dict[str, Any] = {
            "step": step,
            "loss": means["loss"],
            **{k: means[k] for k in objective.metric_names},
            "lr": lr,
            "grad_norm": float(full_value(grad_norm)) if grad_norm is not None else None,
            "tokens_per_s": tps,
            "mfu": mfu(flops_per_token, tps, world, peak),
            "data_wait": wait.seconds() / elapsed,
            "tokens": tokens_seen,
            "epoch": loader.epoch,
            "elapsed_s": time.perf_counter() - run_start,
        }
        if do_eval:
            record.update(run_eval())
        if log is not None:
            log.write(record)
        if do_report:
            if log is not None:
                log.flush()
            if window_log is not None:
                window_log.flush()
            mirror.push()  # an object-store run folder follows the run at each report
            _report(record, step, do_ckpt, rank, world, model, optimizer, scheduler, loader, tokens_seen, data, cfg,
                    params)
        interval_start, wait = time.perf_counter(), DataWait(device)
        interval_tokens.zero_()
    if log is not None:
        log.event("end", step=step)
        log.close()
    if window_log is not None:
        window_log.close()
    mirror.close()


def shard_model(model: GPT, device: torch.device, dtype: str) -> None:
    """FSDP2: each block, then the root (embedding, final norm), sharded over the ranks along dim 0. With bf16
    compute the parameters are gathered in bf16 (the residual stream and activations then stay bf16) while
    gradients are reduced and the optimizer steps in fp32."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    bf16 = dtype == "bf16" or (dtype == "auto" and device.type == "cuda")
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else MixedPrecisionPolicy()
    for block in model.blocks:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)


def full_value(value: torch.Tensor) -> torch.Tensor:
    """A DTensor's full value (FSDP's grad norm), or the tensor."""
    return value.full_tensor() if hasattr(value, "full_tensor") else value


def _own_files(rank: int, cfg: TrainConfig) -> tuple[str, ...]:
    """The run-folder files this rank appends to (pulled into its mirror when the run folder is remote)."""
    windows = (f"windows/rank-{rank}.jsonl",) if cfg.log_windows else ()
    return (("metrics.jsonl", "events.jsonl") if rank == 0 else ()) + windows


def resume(folder: RunFolder, checkpoint, model, optimizer, scheduler, rank: int, world: int):
    """Load the newest checkpoint that is intact: the one Ray Train hands back, else (or when it is damaged) the
    run folder's checkpoints newest first. Returns (state or None, its name, reasons newer ones were skipped).
    A run folder that has checkpoints never silently starts over: if none loads, the run stops with the reasons."""
    candidates = []
    if checkpoint is not None:
        candidates.append((Path(checkpoint.path).name, checkpoint))
    newest = int(candidates[0][0].split("-")[1]) if candidates else None
    for name in reversed(checkpoint_names(folder)):
        if newest is None or (int(name.split("-")[1]) < newest):
            candidates.append((name, None))
    skipped = []
    for name, ckpt in candidates:
        try:
            if ckpt is None:
                ckpt = ray.train.Checkpoint(folder.fs_path(CHECKPOINTS, name), filesystem=folder.ray_storage()[0])
            with ckpt.as_directory() as directory:
                state = load_training_state(directory, model, optimizer, scheduler, rank, world)
        except (DamagedCheckpoint, FileNotFoundError) as exc:
            detail = exc.detail if isinstance(exc, DamagedCheckpoint) else f"a file is missing ({exc})"
            skipped.append(f"{CHECKPOINTS}/{name}/{detail}")
            print(f"warning: {skipped[-1]}; trying the previous checkpoint", flush=True)
            continue
        if state["world_size"] != world:
            raise UserError(
                f"cannot resume: the checkpoint was written by {state['world_size']} workers and this run has {world}; "
                "the batch order depends on the world size, so resume with the same num_workers"
            )
        if skipped:
            print(f"warning: resumed from {CHECKPOINTS}/{name} ({len(skipped)} newer damaged)", flush=True)
        return state, name, skipped
    if skipped:
        raise UserError(f"no checkpoint of {folder} can be resumed from: {'; '.join(skipped)}")
    return None, None, skipped


def _window_log(local_dir: Path, rank: int, resume_step: int):
    path = Path(local_dir) / "windows" / f"rank-{rank}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    if path.exists():  # drop steps that will be re-run after a resume, and a line cut short by a kill
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= resume_step:
                    kept.append(line)
            except (ValueError, KeyError):
                continue
    path.write_text("".join(k + "\n" for k in kept))
    return open(path, "a", buffering=1)


def _report(record, step, do_ckpt, rank, world, model, optimizer, scheduler, loader, tokens_seen, data, cfg, params):
    """Report metrics to Ray; on checkpoint steps rank 0 (under FSDP every rank) also hands Ray Train a checkpoint
    folder to persist."""
    metrics = {k: v for k, v in record.items() if v is not None}
    if not do_ckpt:
        ray.train.report(metrics)
        return
    name = step_dir_name(step)
    sharded = cfg.parallel == "fsdp" and world > 1
    with tempfile.TemporaryDirectory(prefix="ckpt-") as tmp:
        checkpoint: Optional[ray.train.Checkpoint] = None
        if rank == 0 or sharded:  # FSDP: every rank writes its optimizer shard into the same checkpoint folder
            state = {
                "step": step,
                "tokens": tokens_seen,
                "world_size": world,
                "objective": cfg.objective,
                "init": params.get("init_dir"),
                "loader": loader.state_dict(),
                "tokenizer": data.tokenizer.to_dict(),
                "config": cfg.model_dump(),
            }
            save_checkpoint(tmp, model, optimizer, scheduler, state, tokenizer=params.get("tokenizer_model"),
                            rank=rank, world=world, sharded=sharded)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name)
