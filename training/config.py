"""The training config: YAML where every key has a default, plus `--set key=value` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dataprep.errors import UsageError, UserError
from training.model import SIZES


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    # What to train.
    model: Union[str, dict[str, Any]] = "tiny"  # a named size, or dimensions (optionally with `base: <size>`)
    seq_len: int = Field(256, ge=8)
    vocab_multiple: int = Field(128, ge=1)  # embedding rows rounded up for fast matmuls

    # Optimisation. batch_size is per worker and per micro-step: a step sees
    # batch_size * grad_accum * num_workers windows of seq_len tokens.
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    steps: int = Field(1000, ge=1)
    lr: float = Field(6e-4, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = Field(1.0, ge=0)  # 0 disables clipping
    seed: int = 1337

    # Evaluation, logging and checkpoints.
    eval_every: int = Field(200, ge=0)  # 0: evaluate only at the end
    eval_batches: int = Field(20, ge=1)  # per worker
    val_fraction: float = Field(0.005, ge=0, lt=1)  # held out from --data when no --val-data is given
    log_every: int = Field(10, ge=1)  # metrics.jsonl and TensorBoard
    report_every: int = Field(50, ge=1)  # ray.train.report is a barrier polled by the controller: keep it sparse
    checkpoint_every: int = Field(500, ge=1)
    keep_checkpoints: int = Field(3, ge=1)
    log_windows: bool = False  # audit trail: each rank writes the window ids it trains on to RUN/windows/

    # Where and how.
    num_workers: int = Field(1, ge=1)
    use_gpu: bool = False
    cpus_per_worker: Optional[int] = Field(None, ge=1)  # None: the machine's CPUs split across workers
    compile: bool = False  # torch.compile the model (GPU runs); packed sequences then use flex attention
    dtype: str = "auto"  # auto: bf16 on GPU (autocast, or FSDP's bf16 parameters), fp32 on CPU; or fp32 / bf16
    parallel: Literal["ddp", "fsdp"] = "ddp"  # fsdp: weights, gradients and optimizer state sharded (FSDP2)
    activation_checkpointing: bool = False  # keep each block's input only and recompute the rest in backward
    deterministic: bool = False  # deterministic kernels (and cuBLAS workspace): bit-exact resume on GPU too
    peak_tflops: Optional[float] = None  # per device, for MFU; None: looked up for known GPUs, null on CPU
    max_failures: int = Field(3, ge=0)  # worker restarts from the latest checkpoint
    data_cache: Optional[str] = None  # local folder for shards staged from object stores

    # What is learned: set by the command (pretrain, sft, dpo), never by a config file.
    objective: Literal["pretrain", "sft", "dpo"] = "pretrain"
    init: Optional[str] = None  # sft/dpo: the checkpoint to start from (its model, weights and tokenizer)
    eval_at_start: bool = False  # evaluate before the first step too (sft/dpo: the starting model's val_loss)
    packing: bool = True  # sft: several conversations per row (block-diagonal mask); false: one, padded
    beta: float = Field(0.1, gt=0)  # dpo: the KL penalty's weight in the rewards
    precompute_ref: bool = False  # dpo: reference log-probs computed once into RUN/ref_logps/, no reference model

    data: Optional[str] = None  # set from --data; kept so that --resume knows what it trained on
    val_data: Optional[str] = None

    @field_validator("model")
    @classmethod
    def _known_size(cls, value):
        if isinstance(value, str) and value not in SIZES:
            raise ValueError(f"unknown model size {value!r}; choose one of {', '.join(SIZES)}")
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value):
        if value not in ("auto", "fp32", "bf16"):
            raise ValueError("dtype must be auto, fp32 or bf16")
        return value

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    return f"{where}: {err['msg']}"


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a mapping of config keys")
    return data


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one `key=value` (value parsed as YAML); `model.n_layer=4` edits one dimension of the model."""
    if "=" not in item:
        raise UsageError(f"--set {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    if key.startswith("model."):
        model = data.get("model", TrainConfig.model_fields["model"].default)
        model = {"base": model} if isinstance(model, str) else dict(model)
        model[key.split(".", 1)[1]] = value
        data["model"] = model
    elif key in TrainConfig.model_fields:
        data[key] = value
    else:
        raise UsageError(f"--set {key}: unknown config key; known keys: {', '.join(TrainConfig.model_fields)}")


def build_config(
    base: Optional[dict[str, Any]] = None,
    config_file: Optional[str | Path] = None,
    overrides: Optional[list[str]] = None,
) -> TrainConfig:
    """Defaults, then `base` (a saved run's config), then the YAML file, then each `--set`."""
    data: dict[str, Any] = dict(base or {})
    if config_file:
        data.update(load_yaml(config_file))
    for item in overrides or []:
        apply_override(data, item)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"bad training config: {_first_error(exc)}") from None
