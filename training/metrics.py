"""Per-step metrics: MFU from the model's FLOPs and the device's peak, and the run folder's JSONL/TensorBoard logs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import torch

# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, matched against the device name.
# Ordered so that the more specific name wins (H100 PCIe before H100).
GPU_PEAK_BF16_TFLOPS = [
    ("GB200", 2500.0),
    ("B200", 2250.0),
    ("H200", 989.5),
    ("H100 PCIe", 756.0),
    ("H100", 989.5),  # SXM and NVL
    ("H800", 989.5),
    ("GH200", 989.5),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),  # AWS's A10G variant
    ("A10", 125.0),
    ("RTX 4090", 165.2),
    ("RTX 3090", 71.0),
    ("V100", 125.0),  # fp16; V100 has no bf16
    ("T4", 65.0),  # fp16
]


def peak_flops(device: torch.device, override_tflops: Optional[float] = None) -> Optional[float]:
    """Peak FLOP/s of one device, or None when unknown (CPU: no honest single number, so MFU is reported null)."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in GPU_PEAK_BF16_TFLOPS:
        if key in name:
            return tflops * 1e12
    return None


def mfu(flops_per_token: float, tokens_per_s: float, world_size: int, peak: Optional[float]) -> Optional[float]:
    if not peak:
        return None
    return flops_per_token * tokens_per_s / (peak * world_size)


class MetricsLog:
    """Rank 0's `metrics.jsonl` and TensorBoard events in the run folder.

    On resume the lines after the checkpoint's step are dropped first: those steps are about to be re-run,
    and the log should read as one uninterrupted run.
    """

    def __init__(self, run_dir: str | Path, resume_step: int = 0, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_after(resume_step)
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def _truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except ValueError:
                continue  # a line cut short by a kill
        self.path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(f"train/{key}" if key != "val_loss" else "val/loss", value, record["step"])

    def event(self, name: str, **fields: Any) -> None:
        """Run lifecycle (start, resume, end) in events.jsonl, so a resumed run's history is visible."""
        record = {"event": name, "time": time.time(), **fields}
        with open(self.path.parent / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
