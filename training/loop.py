"""The per-worker pretraining loop that Ray Train's TorchTrainer runs on every rank.

Every rank builds the same model from the same seed, restores the latest checkpoint that Ray Train hands
it, and steps in lockstep; decisions to log, evaluate or checkpoint depend only on the step number, so
every rank calls the collectives and `ray.train.report` (a barrier) the same number of times.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import torch
import torch.distributed as dist

import ray.train
import ray.train.torch
from dataprep.errors import UserError
from training.checkpoint import load_training_state, save_checkpoint, step_dir_name
from training.config import TrainConfig
from training.loader import WindowLoader, eval_batches, num_windows, split_windows
from training.metrics import MetricsLog, mfu, peak_flops
from training.model import GPT, model_config, padded_vocab
from training.optim import build_optimizer, build_scheduler
from training.shards import open_token_stream


def autocast_for(device: torch.device, dtype: str):
    use_bf16 = dtype == "bf16" or (dtype == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def mean_across_ranks(value: torch.Tensor, world_size: int) -> float:
    if world_size > 1:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.AVG if value.device.type == "cuda" else dist.ReduceOp.SUM)
        if value.device.type != "cuda":  # gloo has no AVG
            value /= world_size
    return float(value.item())


@torch.no_grad()
def evaluate(model, stream, windows, cfg: TrainConfig, device, rank: int, world_size: int) -> float:
    """Mean token loss over the held-out windows, the same windows every time, summed over all ranks."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=device)
    for x, y in eval_batches(stream, cfg.seq_len, cfg.batch_size, windows, rank, world_size, cfg.eval_batches):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast_for(device, cfg.dtype):
            loss = model(x, y)
        total[0] += loss.double() * y.numel()
        total[1] += y.numel()
    if world_size > 1:
        dist.all_reduce(total)
    model.train()
    return float(total[0] / total[1]) if total[1] > 0 else float("nan")


def train_func(params: dict[str, Any]) -> None:
    """Ray Train entry point. `params`: config (dict), run_dir, tokenizer_sha256, cpus_per_worker."""
    cfg = TrainConfig.model_validate(params["config"])
    run_dir = Path(params["run_dir"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    if device.type == "cpu" and params.get("cpus_per_worker"):
        torch.set_num_threads(int(params["cpus_per_worker"]))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 leftovers (optimizer, norms) use TF32 tensor cores
        torch.backends.cudnn.allow_tf32 = True

    stream = open_token_stream(cfg.data, cfg.data_cache, expect_tokenizer=params["tokenizer_sha256"])
    total_windows = num_windows(stream, cfg.seq_len)
    if cfg.val_data:
        train_windows = range(total_windows)
        val_stream = open_token_stream(cfg.val_data, cfg.data_cache, expect_tokenizer=params["tokenizer_sha256"])
        val_windows = range(num_windows(val_stream, cfg.seq_len))
    else:
        train_windows, val_windows = split_windows(total_windows, cfg.val_fraction)
        val_stream = stream
    loader = WindowLoader(stream, cfg.seq_len, cfg.batch_size, cfg.seed, rank, world, train_windows)

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and in every run
    vocab = padded_vocab(stream.tokenizer.vocab_size, cfg.vocab_multiple)
    model = GPT(model_config(cfg.model, vocab, cfg.seq_len)).to(device)
    optimizer = build_optimizer(model, cfg, device)
    scheduler = build_scheduler(optimizer, cfg)

    step, tokens_seen = 0, 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = load_training_state(directory, model, optimizer, scheduler)
        if state["world_size"] != world:
            raise UserError(
                f"cannot resume: the checkpoint was written by {state['world_size']} workers and this run has {world}; "
                "the window order depends on the world size, so resume with the same num_workers"
            )
        loader.load_state_dict(state["loader"])
        step, tokens_seen = int(state["step"]), int(state["tokens"])

    fwd_model = torch.compile(model) if cfg.compile else model
    ddp_model = ray.train.torch.prepare_model(fwd_model)  # DDP when world > 1 (gloo on CPU, NCCL on GPU)
    flops_per_token = model.flops_per_token(cfg.seq_len)
    peak = peak_flops(device, cfg.peak_tflops)
    log = MetricsLog(run_dir, resume_step=step) if rank == 0 else None
    if log is not None:
        log.event(
            "resume" if checkpoint is not None else "start", step=step, world_size=world, device=str(device),
            pid=os.getpid(),
        )
    window_log = _window_log(run_dir, rank, step) if cfg.log_windows else None

    tokens_per_step = cfg.batch_size * cfg.seq_len * cfg.grad_accum * world
    interval_start, interval_steps, interval_wait = time.perf_counter(), 0, 0.0
    run_start = time.perf_counter()
    while step < cfg.steps:
        lr = optimizer.param_groups[0]["lr"]
        step_loss = torch.zeros((), device=device)
        for micro in range(cfg.grad_accum):
            t0 = time.perf_counter()
            if window_log is not None:
                ids = loader.window_ids(loader.epoch, loader.batch)
                window_log.write(json.dumps({"step": step + 1, "epoch": loader.epoch, "windows": ids.tolist()}) + "\n")
            windows = loader.next_windows()
            if device.type == "cuda":  # one pinned host-to-device copy; inputs and targets are views of it
                windows = windows.pin_memory().to(device, non_blocking=True)
            x, y = windows[:, :-1], windows[:, 1:]
            interval_wait += time.perf_counter() - t0
            # Gradients are all-reduced once per step, on the last micro-batch, not on every one.
            last = micro == cfg.grad_accum - 1
            sync = contextlib.nullcontext() if (last or world == 1) else ddp_model.no_sync()
            with sync:
                with autocast_for(device, cfg.dtype):
                    loss = ddp_model(x, y) / cfg.grad_accum
                loss.backward()
            step_loss += loss.detach()
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip) if cfg.grad_clip > 0 else None
        )
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += tokens_per_step
        interval_steps += 1

        do_log = step % cfg.log_every == 0 or step == cfg.steps
        do_eval = len(val_windows) > 0 and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps)
        do_ckpt = step % cfg.checkpoint_every == 0 or step == cfg.steps
        do_report = do_eval or do_ckpt or step % cfg.report_every == 0
        if not (do_log or do_report):
            continue

        loss_value = mean_across_ranks(step_loss, world)  # .item() also waits for the GPU, so timings are true
        elapsed = time.perf_counter() - interval_start
        tps = interval_steps * tokens_per_step / elapsed
        record: dict[str, Any] = {
            "step": step,
            "loss": loss_value,
            "lr": lr,
            "grad_norm": float(grad_norm) if grad_norm is not None else None,
            "tokens_per_s": tps,
            "mfu": mfu(flops_per_token, tps, world, peak),
            "data_wait": interval_wait / elapsed,
            "tokens": tokens_seen,
            "epoch": loader.epoch,
            "elapsed_s": time.perf_counter() - run_start,
        }
        if do_eval:
            record["val_loss"] = evaluate(fwd_model, val_stream, val_windows, cfg, device, rank, world)
        if log is not None:
            log.write(record)
        if do_report:
            _report(record, step, do_ckpt, rank, world, model, optimizer, scheduler, loader, tokens_seen, stream, cfg)
        interval_start, interval_steps, interval_wait = time.perf_counter(), 0, 0.0
    if log is not None:
        log.event("end", step=step)
        log.close()
    if window_log is not None:
        window_log.close()


def _window_log(run_dir: Path, rank: int, resume_step: int):
    path = run_dir / "windows" / f"rank-{rank}.jsonl"
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


def _report(record, step, do_ckpt, rank, world, model, optimizer, scheduler, loader, tokens_seen, stream, cfg):
    """Report metrics to Ray; on checkpoint steps rank 0 also hands Ray Train a checkpoint folder to persist."""
    metrics = {k: v for k, v in record.items() if v is not None}
    if not do_ckpt:
        ray.train.report(metrics)
        return
    name = step_dir_name(step)
    with tempfile.TemporaryDirectory(prefix="ckpt-") as tmp:
        checkpoint: Optional[ray.train.Checkpoint] = None
        if rank == 0:
            state = {
                "step": step,
                "tokens": tokens_seen,
                "world_size": world,
                "loader": loader.state_dict(),
                "tokenizer": stream.tokenizer.to_dict(),
                "config": cfg.model_dump(),
            }
            save_checkpoint(tmp, model, optimizer, scheduler, state)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name)
