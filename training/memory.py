"""The memory pre-flight: what one training worker will hold at its peak, against what its device has.

The estimate counts, per worker: the fp32 weights, their gradients and AdamW's two moments (each divided by the
world size under FSDP, plus the gathered blocks), DDP's gradient buckets, autocast's bf16 weight copies, a DPO
reference model, the activations every layer keeps for backward at the configured batch and sequence length
(for the kernels the chosen path runs: the CPU kernels in fp32, bf16 autocast, FSDP's bf16 parameters; one block's
worth with activation checkpointing), the logits and the loss's buffers, and any (T x T) attention mask the
attention path builds (SDPA's packed-sequence mask and its additive copy per layer; flex attention's block mask
builds none). Token shards are memory-mapped page cache, reclaimable, and not counted.

`tests/training/test_memory.py` measures peak RSS above the process baseline on CPU for `tiny` and `small` and
holds the estimate within 30% of it; `benchmarks/gpu_check.sh` prints it beside `torch.cuda.max_memory_allocated`.
A run whose estimate exceeds 90% of the device (a GPU's memory, or a CPU worker's share of the machine's
available RAM) is refused with one line naming the estimate, the limit and what to change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from dataprep.errors import UserError
from training.config import TrainConfig
from training.model import GPTConfig

GiB = 1024**3
LIMIT_SHARE = 0.9  # refuse above this share of the device
CPU_RUNTIME = 96 * 2**20  # measured: one step of a 1-layer micro model raises a fresh process's RSS by ~90 MiB


@dataclass(frozen=True)
class ComputePath:
    """How the worker computes: where, in which precision, and how the weights are spread."""

    device: str  # "cpu" or "cuda"
    bf16: bool  # bf16 compute (autocast, or FSDP's bf16 parameters)
    fsdp: bool
    world: int
    flex: bool  # packed masks through flex attention's block mask (compiled GPU runs)


def training_path(cfg: TrainConfig, device: str, world: Optional[int] = None) -> ComputePath:
    bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and device == "cuda")
    return ComputePath(device, bf16, cfg.parallel == "fsdp", world or cfg.num_workers, cfg.compile and device == "cuda")


def parameter_count(m: GPTConfig) -> int:
    kv = m.n_kv_head * m.head_dim
    per_layer = m.d_model * (m.d_model + 2 * kv) + m.d_model * m.d_model + 3 * m.d_model * m.hidden + 2 * m.d_model
    return m.vocab_size * m.d_model + m.n_layer * per_layer + m.d_model


def block_parameter_count(m: GPTConfig) -> int:
    return (parameter_count(m) - m.vocab_size * m.d_model - m.d_model) // m.n_layer


def activation_bytes_per_token(m: GPTConfig, path: ComputePath) -> float:
    """What one block keeps for backward per token: its norms' inputs and outputs, q/k/v and the attention output
    (and its re-laid-out copy for the output projection), the SwiGLU's input and output. Under autocast the
    residual stream and the norms stay fp32 while matmul inputs are saved as bf16 copies."""
    d, kv, h = m.d_model, m.n_kv_head * m.head_dim, m.hidden
    lse = 4 * m.n_head  # the attention kernels' log-sum-exp, fp32
    if path.device == "cpu" and not path.bf16:
        # training.cpu_kernels: RMSNorm keeps its input, RoPE rotates q/k in place, SwiGLU keeps only its input
        return 4 * (7 * d + 2 * kv + 3 * h) + lse
    if path.bf16 and not path.fsdp:  # autocast: fp32 residual and norm inputs, bf16 matmul inputs
        return 2 * (2 * d + 2 * kv) + 2 * 2 * d + 2 * 4 * d + 2 * 2 * d + 2 * (2 * h + 2 * h) + lse
    width = 2 if path.bf16 else 4  # FSDP's bf16 parameters: everything bf16; or plain fp32
    return width * (7 * d + 2 * kv + 4 * h) + lse


@dataclass
class Estimate:
    parts: dict[str, int] = field(default_factory=dict)  # bytes per worker, by what holds them

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        top = sorted(self.parts.items(), key=lambda kv: -kv[1])[:3]
        return ", ".join(f"{name} {gib(v)}" for name, v in top if v)


def gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB" if n >= 0.1 * GiB else f"{n / 2**20:.0f} MiB"


def rows_per_micro_batch(cfg: TrainConfig) -> int:
    return 2 * cfg.batch_size if cfg.objective == "dpo" else cfg.batch_size  # DPO: chosen and rejected rows


def estimate(cfg: TrainConfig, m: GPTConfig, device: str, world: Optional[int] = None) -> Estimate:
    """Peak bytes of one training worker for this config and model on `device` ("cpu" or "cuda")."""
    path = training_path(cfg, device, world)
    n = parameter_count(m)
    shard = path.world if path.fsdp else 1
    rows, T = rows_per_micro_batch(cfg), cfg.seq_len
    tokens = rows * T
    width = 2 if path.bf16 else 4  # bytes of a compute-precision element
    est = Estimate()
    if path.device == "cpu":
        est.parts["torch runtime"] = CPU_RUNTIME  # kernels, thread pools and arenas the first step brings in
    est.parts["weights"] = 4 * n // shard
    est.parts["gradients"] = 4 * n // shard
    est.parts["optimizer"] = 8 * n // shard  # AdamW: two fp32 moments
    if not path.fsdp and path.world > 1:
        est.parts["ddp buckets"] = 4 * n  # DDP reduces gradients through its own bucket copies
    if path.fsdp:
        # The root (embedding, final norm) stays gathered; blocks are gathered one (plus one prefetched) at a
        # time, with their gradients before the reduce-scatter.
        est.parts["gathered"] = width * (m.vocab_size * m.d_model + 4 * block_parameter_count(m))
    elif path.bf16:
        est.parts["autocast copies"] = 2 * n  # bf16 casts of the weights, cached for the step
    if cfg.objective == "dpo" and not cfg.precompute_ref:
        est.parts["reference model"] = 4 * n
    per_token = activation_bytes_per_token(m, path)
    layers = 1 if cfg.activation_checkpointing else m.n_layer
    block_inputs = (m.n_layer * m.d_model * (2 if path.bf16 and path.fsdp else 4)) if cfg.activation_checkpointing else 0
    # What backward allocates while every activation is still held: one block's input and SwiGLU gradients.
    workspace = width * (2 * m.hidden + 2 * m.d_model)
    est.parts["activations"] = int(tokens * (per_token * layers + block_inputs + 3 * 4 * m.d_model + workspace))
    if path.device == "cpu" and not path.bf16:
        logit_bytes = 4  # the fused CPU loss overwrites its logits with exps, then with the gradient
    else:
        logit_bytes = 12  # bf16 logits, their fp32 copy and the log-softmax kept for backward, then the gradient
    est.parts["logits"] = tokens * m.vocab_size * logit_bytes
    if cfg.objective == "dpo" and not cfg.precompute_ref:
        est.parts["logits"] += tokens * m.vocab_size * (4 if logit_bytes == 4 else 10)  # the reference's, transient
    if cfg.objective == "sft" and cfg.packing and not path.flex:
        # The boolean (B, 1, T, T) mask, and per layer the additive copy SDPA makes of it and keeps for backward.
        est.parts["attention masks"] = cfg.batch_size * T * T * (1 + m.n_layer * width)
    return est


# --- what the device has -----------------------------------------------------------------------------------
def available_ram() -> int:
    """Bytes of RAM available to new allocations on this machine (MemAvailable)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def gpu_memory(index: int = 0) -> int:
    import torch

    return int(torch.cuda.get_device_properties(index).total_memory)


def device_limit(use_gpu: bool, workers_here: int) -> tuple[int, str]:
    """(bytes, description) one worker may use: a GPU's memory, or this machine's available RAM shared by the
    training workers placed on it."""
    if use_gpu:
        import torch

        if not torch.cuda.is_available():
            raise UserError("use_gpu is set but this machine has no CUDA device torch can use; set use_gpu=false "
                            "or join a GPU cluster with --address")
        name = torch.cuda.get_device_name(0)
        return gpu_memory(0), f"{name} with {gib(gpu_memory(0))}"
    ram = available_ram()
    share = ram // max(1, workers_here)
    what = f"{gib(ram)} of available RAM" + (f" / {workers_here} workers" if workers_here > 1 else "")
    return share, what


def check_fits(cfg: TrainConfig, m: GPTConfig, use_gpu: bool, world: int, workers_here: int) -> Estimate:
    """Refuse (one line) a run whose per-worker estimate exceeds 90% of what its device has."""
    est = estimate(cfg, m, "cuda" if use_gpu else "cpu", world)
    limit, what = device_limit(use_gpu, workers_here)
    if est.total > LIMIT_SHARE * limit:
        raise UserError(
            f"this run needs about {gib(est.total)} per worker ({est.describe()}) but {what} allows "
            f"{gib(LIMIT_SHARE * limit)} (90%); {advice(cfg, est, use_gpu)}"
        )
    return est


def advice(cfg: TrainConfig, est: Estimate, use_gpu: bool) -> str:
    parts = est.parts
    state = parts.get("weights", 0) + parts.get("gradients", 0) + parts.get("optimizer", 0)
    per_batch = parts.get("activations", 0) + parts.get("logits", 0) + parts.get("attention masks", 0)
    if parts.get("attention masks", 0) > per_batch / 2:
        return f"lower seq_len (now {cfg.seq_len}) or batch_size, or train with compile: true on a GPU (flex attention)"
    if per_batch >= state:
        hint = "" if cfg.activation_checkpointing or not use_gpu else ", or set activation_checkpointing: true"
        return (f"lower batch_size (now {cfg.batch_size}; raise grad_accum to keep the step's tokens) or seq_len "
                f"(now {cfg.seq_len}){hint}")
    if use_gpu and cfg.parallel != "fsdp":
        return "shard the model with parallel: fsdp over more GPUs, or choose a smaller model"
    return "choose a smaller model (--set model=...) or more GPUs with parallel: fsdp"
