"""A micro-batch as every loader hands it out and every objective reads it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import torch


@dataclass
class Batch:
    """One micro-batch. `inputs` and `targets` (B, T) int64, targets IGNORE_INDEX where nothing is learned
    (padding, prompts, user turns). `positions` (B, T): rotary positions, None for 0..T-1 in every row.
    `doc_ids` (B, T): which packed sequence each position belongs to, None for one sequence per row (plain
    causal attention). `num_tokens`: real (non-padding) input tokens, for throughput. `extra`: per-objective
    tensors (DPO: `pair_ids`)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    positions: Optional[torch.Tensor] = None
    doc_ids: Optional[torch.Tensor] = None
    num_tokens: int = 0
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self):
        if not self.num_tokens:
            self.num_tokens = self.inputs.numel()

    def to(self, device: torch.device) -> "Batch":
        def move(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            if t is None:
                return None
            if device.type == "cuda":  # pinned host memory: an asynchronous copy
                return t.pin_memory().to(device, non_blocking=True)
            return t.to(device)

        return replace(
            self, inputs=move(self.inputs), targets=move(self.targets), positions=move(self.positions),
            doc_ids=move(self.doc_ids), extra={k: move(v) for k, v in self.extra.items()},
        )
