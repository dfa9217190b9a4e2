"""Checkpoint folders: everything needed to continue a run exactly, with nothing that must be unpickled.

    model.safetensors   weights (the model's config in the safetensors metadata)
    optimizer.pt        AdamW state: tensors and plain numbers only, loaded with weights_only=True
    rng.pt              torch (and CUDA) generator states, as tensors, loaded with weights_only=True
    tokenizer.model     the sentencepiece model the run's token ids come from (sha256 in state.json)
    state.json          step, tokens seen, world size, scheduler, numpy/python RNG, loader, tokenizer, config

`state.json` is written last: a folder without it is incomplete and ignored. With its tokenizer, one checkpoint
folder is all that chat, eval and export need.

Weight names are frozen (the export reads them): embed.weight, blocks.N.attn_norm.weight, blocks.N.attn.wqkv.weight,
blocks.N.attn.wo.weight, blocks.N.mlp_norm.weight, blocks.N.mlp.w_gate_up.weight, blocks.N.mlp.w_down.weight,
norm.weight.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dataprep.errors import UserError
from training.model import GPT, GPTConfig

STATE = "state.json"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.pt"
RNG = "rng.pt"
TOKENIZER = "tokenizer.model"
CHECKPOINTS = "checkpoints"  # inside a run folder; Ray Train's storage for this run
STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = state
    np_state = np.random.get_state()
    py_state = random.getstate()
    plain = {
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, plain


def restore_rng(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(tensors) if k.startswith("cuda")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    name, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(
    directory: str | Path,
    model: GPT,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: dict[str, Any],
    tokenizer: Optional[bytes] = None,
) -> Path:
    """Write one checkpoint folder. `model` is the bare GPT (not a DDP or compiled wrapper); `tokenizer` the
    sentencepiece model's bytes, whose sha256 must be state["tokenizer"]["sha256"]."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if tokenizer is not None:
        sha = hashlib.sha256(tokenizer).hexdigest()
        if sha != state.get("tokenizer", {}).get("sha256"):
            raise ValueError(f"the tokenizer to save ({sha[:12]}) is not the run's ({state.get('tokenizer')})")
        (directory / TOKENIZER).write_bytes(tokenizer)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, directory / WEIGHTS, metadata={"model_config": json.dumps(model.cfg.to_dict())})
    torch.save(optimizer.state_dict(), directory / OPTIMIZER)
    rng_tensors, rng_plain = capture_rng()
    torch.save(rng_tensors, directory / RNG)
    scheduler_state = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    full = {**state, "scheduler": scheduler_state, "rng": rng_plain, "model_config": model.cfg.to_dict()}
    tmp = directory / (STATE + ".tmp")
    tmp.write_text(json.dumps(full, indent=1))
    tmp.replace(directory / STATE)
    return directory


def read_state(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / STATE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{directory} is not a complete checkpoint (no {STATE})") from None
    except ValueError:
        raise UserError(f"{path} is not valid JSON; the checkpoint is corrupt") from None


def load_training_state(
    directory: str | Path,
    model: GPT,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> dict[str, Any]:
    """Load weights, optimizer, scheduler and RNG into the given objects; return state.json's content."""
    directory = Path(directory)
    state = read_state(directory)
    load_weights(directory, model)
    device = next(model.parameters()).device
    optimizer.load_state_dict(torch.load(directory / OPTIMIZER, map_location=device, weights_only=True))
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    restore_rng(torch.load(directory / RNG, weights_only=True), state["rng"])
    return state


def load_weights(directory: str | Path, model: GPT) -> None:
    path = Path(directory) / WEIGHTS
    try:
        weights = load_file(str(path), device=str(next(model.parameters()).device))
    except (FileNotFoundError, SafetensorError) as exc:
        raise UserError(f"cannot read weights from {path}: {exc}") from None
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shapes differ: another model's weights
        detail = next((ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln), str(exc).splitlines()[0])
        raise UserError(f"{path} does not fit this model ({detail})") from None
    if missing or unexpected:
        raise UserError(f"{path} does not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = STEP_DIR.match(child.name)
        if m and (child / STATE).is_file() and (child / WEIGHTS).is_file():
            found.append((int(m.group(1)), child))
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder meaning its latest complete checkpoint."""
    path = Path(path)
    if (path / STATE).is_file():
        return path
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist")
    found = list_checkpoints(path)
    if not found:
        raise UserError(f"{path} holds no complete checkpoint (expected {path}/{CHECKPOINTS}/step-*/{STATE})")
    return found[-1]


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[GPT, dict[str, Any], Path]:
    """The model of a checkpoint (or a run folder's latest), its state.json and the folder it came from."""
    directory = resolve_checkpoint(path)
    state = read_state(directory)
    model = GPT(GPTConfig.from_dict(state["model_config"])).to(device)
    load_weights(directory, model)
    return model, state, directory


def read_tokenizer(directory: str | Path) -> bytes:
    """The checkpoint's tokenizer.model, checked against the sha256 its state.json records."""
    directory = Path(directory)
    state = read_state(directory)
    path = directory / TOKENIZER
    if not path.is_file():
        raise UserError(f"{directory} has no {TOKENIZER}; it was written before checkpoints carried their tokenizer")
    data = path.read_bytes()
    expected = state.get("tokenizer", {}).get("sha256")
    if hashlib.sha256(data).hexdigest() != expected:
        raise UserError(f"{path} does not match the sha256 in {directory / STATE}; the checkpoint is corrupt")
    return data


def build_reference(path: str | Path, device: str | torch.device = "cpu") -> GPT:
    """A checkpoint's model, frozen: DPO's reference."""
    model, _, _ = load_model(path, device)
    model.requires_grad_(False)
    model.eval()
    if torch.device(device).type == "cpu":
        from training.cpu_kernels import use_cpu_kernels

        use_cpu_kernels(model)
    return model


def latest_state(run_dir: str | Path) -> Optional[dict[str, Any]]:
    found = list_checkpoints(run_dir)
    return read_state(found[-1]) if found else None
