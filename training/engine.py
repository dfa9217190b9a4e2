"""One optimizer step's gradients and one evaluation, for any objective: the code training and `training eval` share.

No Ray here: ranks talk through torch.distributed when there are several (Ray Train sets the process group up).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterable, Optional

import torch
import torch.distributed as dist

from training.objectives.base import Batch, Objective


def autocast_for(device: torch.device, dtype: str):
    use_bf16 = dtype == "bf16" or (dtype == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def set_deterministic() -> None:
    """Deterministic kernels everywhere (an error where torch has none), and the cuBLAS workspace setting
    deterministic GEMMs need (read when cuBLAS starts: the loop calls this before the first CUDA matmul)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def all_reduce_sum(value: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


@dataclass
class Sums:
    """Loss, count and metric sums of one step or one evaluation, on this rank until `reduced`."""

    objective: Objective
    values: torch.Tensor  # float64: [loss_sum, count, *metric sums in objective.metric_names order]

    @classmethod
    def zeros(cls, objective: Objective, device) -> "Sums":
        return cls(objective, torch.zeros(2 + len(objective.metric_names), dtype=torch.float64, device=device))

    def add(self, out) -> None:
        parts = [out.loss_sum.detach(), out.count] + [out.metrics[k] for k in self.objective.metric_names]
        self.values += torch.stack([p.to(torch.float64) for p in parts])

    def reduced(self, world: int) -> dict[str, float]:
        """Means over every rank: each sum divided by the global count."""
        total = all_reduce_sum(self.values, world).tolist()
        count = total[1]
        out = {"loss": total[0] / count if count else float("nan"), "count": count}
        for name, value in zip(self.objective.metric_names, total[2:]):
            out[name] = value / count if count else float("nan")
        return out


def accumulate_gradients(
    model: torch.nn.Module,
    objective: Objective,
    batches: list[Batch],
    world: int = 1,
    autocast=contextlib.nullcontext,
) -> Sums:
    """Backward over the step's micro-batches, each loss sum scaled by world / (count over micro-batches and ranks).

    DDP averages gradients over ranks, hence the factor `world`: the result is the gradient of the global loss sum
    divided by the global count (torchtitan's global_valid_tokens), so every target weighs the same whatever the
    split into micro-batches and ranks. Under DDP gradients are all-reduced once, on the last micro-batch (no_sync
    before); FSDP reduce-scatters each micro-batch's into the sharded gradients (no full-size copies kept).
    """
    device = batches[0].inputs.device
    local = torch.stack([objective.count(b).to(device=device, dtype=torch.float64) for b in batches]).sum()
    scale = world / all_reduce_sum(local, world).clamp(min=1)
    sums = Sums.zeros(objective, device)
    for i, batch in enumerate(batches):
        last = i == len(batches) - 1
        skip_sync = not last and world > 1 and hasattr(model, "no_sync")
        sync = model.no_sync() if skip_sync else contextlib.nullcontext()
        with sync:
            with autocast():
                out = objective(model, batch)
            (out.loss_sum * scale.to(out.loss_sum.dtype)).backward()
        sums.add(out)
    return sums


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    objective: Objective,
    batches: Iterable[Batch],
    device: torch.device,
    world: int = 1,
    autocast=contextlib.nullcontext,
) -> Optional[dict[str, float]]:
    """The objective's mean loss and metrics over `batches` (this rank's share), reduced over every rank."""
    was_training = model.training
    model.eval()
    sums = Sums.zeros(objective, device)
    for batch in batches:
        batch = batch.to(device)
        with autocast():
            sums.add(objective(model, batch))
    model.train(was_training)
    return sums.reduced(world)
