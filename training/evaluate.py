"""`training eval`: the loss and perplexity of a checkpoint on a tokens dataset."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import torch

from dataprep.errors import UserError
from training.checkpoint import load_model
from training.loader import eval_batches, num_windows
from training.loop import autocast_for
from training.shards import open_token_stream


@torch.no_grad()
def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str,
    batch_size: int = 8,
    max_batches: Optional[int] = None,
    seq_len: Optional[int] = None,
    device: Optional[str] = None,
) -> dict[str, Any]:
    """Mean next-token loss over every window of `data` (or the first `max_batches` batches) and its perplexity."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, state, directory = load_model(checkpoint, device)
    seq_len = seq_len or int(state["config"]["seq_len"])
    if seq_len > model.cfg.max_seq_len:
        raise UserError(f"--seq-len {seq_len} exceeds the model's context of {model.cfg.max_seq_len}")
    stream = open_token_stream(data, expect_tokenizer=state["tokenizer"]["sha256"])
    windows = range(num_windows(stream, seq_len))
    if len(windows) == 0:
        raise UserError(f"{data} has fewer than {seq_len + 1} tokens: nothing to evaluate")
    model.eval()
    loss_sum, count = 0.0, 0
    for x, y in eval_batches(stream, seq_len, batch_size, windows, max_batches=max_batches):
        x, y = x.to(device), y.to(device)
        with autocast_for(device, "auto"):
            loss = model(x, y)
        loss_sum += float(loss) * y.numel()
        count += y.numel()
    mean = loss_sum / count
    return {
        "checkpoint": str(directory),
        "step": state["step"],
        "data": data,
        "tokens": count,
        "loss": mean,
        "perplexity": math.exp(min(mean, 700.0)),
    }
