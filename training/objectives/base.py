"""The seam between the model and what it is trained to do: batches, objectives and their outputs.

The model returns logits or final hidden states, never a loss (torchtitan's rule). An objective turns
(model, batch) into a loss *sum*, the count of what it averages over (its unit: target tokens for language
modelling and SFT, pairs for DPO) and metric sums in the same unit. The loop divides by the count summed over
micro-batches and ranks, so gradient accumulation and data parallelism weight every target equally however the
masks fall; evaluation runs the same objective and divides the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Protocol

import torch
import torch.nn.functional as F

from training.batch import Batch
from training.cpu_kernels import IGNORE_INDEX, CrossEntropyFn, eager_cpu_fp32
from training.model import unwrap


@dataclass
class Output:
    loss_sum: torch.Tensor  # scalar, differentiable
    count: torch.Tensor  # scalar: valid targets (tokens) or pairs
    metrics: dict[str, torch.Tensor]  # sums over the same unit, divided by the global count when reported


class Objective(Protocol):
    """What the loop needs from an objective. A new objective is a new file plus one entry in OBJECTIVES."""

    name: str  # the command that trains it: pretrain, sft, dpo
    unit: str  # what `count` counts: "tokens" or "pairs"
    layouts: Optional[tuple[str, ...]]  # token layouts (provenance token_layout) it trains on; None: any
    metric_names: tuple[str, ...]  # keys of Output.metrics, in a fixed order (they are all-reduced as one tensor)

    def count(self, batch: Batch) -> torch.Tensor:
        """The batch's count, known before the forward pass (the loop all-reduces it first)."""

    def __call__(self, model: torch.nn.Module, batch: Batch) -> Output: ...

    def open_data(self, cfg, expect_tokenizer: Optional[str]) -> "ObjectiveData": ...

    def prepare(self, model: torch.nn.Module, data: "ObjectiveData", ctx: "RunContext") -> None:
        """Set-up after the model is built and restored (DPO: the frozen reference)."""

    # Optional: `health(first_step_means: dict) -> dict`, a start-up check on a fresh run's first step, written to
    # events.jsonl and printed (DPO: loss ln 2, rewards 0).


class Loader(Protocol):
    epoch: int

    def next_batch(self) -> Batch: ...

    def next_ids(self) -> list[int]:
        """The ids (windows, packed rows, pairs) of the batch `next_batch` will return, for the audit log."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class ObjectiveData(Protocol):
    tokenizer: object  # training.shards.TokenizerInfo
    fingerprint: str
    summary: dict  # counts printed at start and written to events.jsonl (sft_truncated, sft_dropped, ...)

    def loader(self, rank: int, world: int) -> Loader: ...

    def eval_batches(self, rank: int, world: int, max_batches: Optional[int]) -> Iterator[Batch]: ...

    def has_eval(self) -> bool: ...


@dataclass
class RunContext:
    """Where a run is: what `prepare` may need beyond the model."""

    device: torch.device
    rank: int = 0
    world: int = 1
    run_dir: Optional[str] = None
    init_dir: Optional[str] = None  # the --init checkpoint folder (sft, dpo)
    dtype: str = "auto"


def token_losses(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Per-target negative log-likelihood (B, T), 0 where the target is IGNORE_INDEX."""
    hidden = model(batch.inputs, positions=batch.positions, doc_ids=batch.doc_ids, return_hidden=True)
    return hidden_losses(hidden, unwrap(model).head_weight, batch.targets)


def hidden_losses(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The tied output projection and the cross-entropy from final hidden states (B, T, D): fused on CPU in eager
    fp32 (training.cpu_kernels.CrossEntropyFn: no (N, V) temporaries), plain elsewhere."""
    B, T, D = hidden.shape
    flat = targets.reshape(-1)
    if eager_cpu_fp32(hidden) and weight.dtype == torch.float32:
        # (B*T, V) logits that are ours alone: the fused loss overwrites them.
        logits = F.linear(hidden.reshape(-1, D), weight)
        losses = CrossEntropyFn.apply(logits, flat)[0]
    else:
        logits = F.linear(hidden, weight)
        losses = F.cross_entropy(logits.float().view(-1, logits.size(-1)), flat, ignore_index=IGNORE_INDEX,
                                 reduction="none")
    return losses.view(B, T)


def valid_targets(batch: Batch) -> torch.Tensor:
    return (batch.targets != IGNORE_INDEX).sum()
