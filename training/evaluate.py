"""`training eval`: a checkpoint's loss on a tokens dataset, in-process (no Ray), through the training objectives.

The data's token layout picks the objective: documents -> next-token loss and perplexity over windows;
dialogues -> the SFT loss on assistant tokens; preferences -> the DPO loss and rewards against a reference
(the checkpoint's own --init by default).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import torch

from dataprep.dataset import open_dataset
from dataprep.errors import UsageError, UserError
from training.checkpoint import load_model, resolve_checkpoint
from training.config import TrainConfig
from training.engine import autocast_for, evaluate
from training.objectives import RunContext, make_objective
from training.rows import token_layout

OBJECTIVE_OF_LAYOUT = {"documents": "pretrain", "dialogues": "sft", "preferences": "dpo"}


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str,
    batch_size: int = 8,
    max_batches: Optional[int] = None,
    seq_len: Optional[int] = None,
    device: Optional[str] = None,
    reference: Optional[str | Path] = None,
) -> dict[str, Any]:
    """The objective's mean loss (and metrics) over every window, conversation or pair of `data` (or the first
    `max_batches` batches)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, state, directory = load_model(checkpoint, device)
    seq_len = seq_len or int(state["config"]["seq_len"])
    if seq_len > model.cfg.max_seq_len:
        raise UsageError(f"--seq-len {seq_len} exceeds the model's context of {model.cfg.max_seq_len}")
    layout = token_layout(open_dataset(data, kind="tokens"))
    name = OBJECTIVE_OF_LAYOUT.get(layout, "pretrain")
    saved = state["config"]
    cfg = TrainConfig(objective=name, seq_len=seq_len, batch_size=batch_size, data=data, val_data=data,
                      packing=saved.get("packing", True), beta=saved.get("beta", 0.1))
    objective = make_objective(cfg)
    source = objective.open_data(cfg, expect_tokenizer=state["tokenizer"]["sha256"])
    if not source.has_eval():
        raise UserError(f"{data} has nothing to evaluate at seq_len {seq_len} (fewer than {seq_len + 1} tokens)")
    init = None
    if name == "dpo":
        init = reference or state.get("init")
        if init is None:
            raise UserError("evaluating on preferences needs a reference model: pass --reference CHECKPOINT")
        init = str(resolve_checkpoint(init))
    objective.prepare(model, source, RunContext(device, init_dir=init))
    result = evaluate(model, objective, source.eval_batches(0, 1, max_batches), device,
                      autocast=lambda: autocast_for(device, "auto"))
    out: dict[str, Any] = {"checkpoint": str(directory), "step": state["step"], "data": data, "layout": layout,
                           "objective": name, objective.unit: int(result.pop("count")), **result}
    if objective.unit == "tokens":
        out["perplexity"] = math.exp(min(out["loss"], 700.0))
    if init is not None:
        out["reference"] = init
    return out
