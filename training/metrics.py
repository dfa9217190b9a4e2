"""Per-step metrics: MFU from the model's FLOPs and the device's peak, and the run folder's JSONL/TensorBoard logs."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

# Dense (no sparsity) tensor-core peaks per GPU in TFLOP/s, from the vendors' data sheets: bf16, and TF32 (what
# fp32 matmuls run at with TF32 allowed, as training sets it on CUDA). Matched against torch's device name in
# this order, each pattern on whole words, so that "H100 NVL" never takes the SXM part's peak, "GH200" never
# H200's, "L40S" never L40's, "A10G" never A10's. A GPU not listed gets no MFU unless `peak_tflops` is set.
GPU_PEAKS: list[tuple[str, str, float, float]] = [
    # (pattern, part, bf16, tf32)
    (r"\bGB200\b", "GB200", 2500.0, 1250.0),
    (r"\bB200\b", "B200", 2250.0, 1125.0),
    (r"\bGH200\b", "GH200", 989.5, 494.7),
    (r"\bH200\b.*\bNVL\b", "H200 NVL", 835.5, 417.5),
    (r"\bH200\b", "H200 SXM", 989.5, 494.7),
    (r"\bH100\b.*\bNVL\b", "H100 NVL", 835.5, 417.5),
    (r"\bH100\b.*\bPCIe\b", "H100 PCIe", 756.0, 378.0),
    (r"\bH100\b", "H100 SXM", 989.5, 494.7),  # "NVIDIA H100 80GB HBM3"
    (r"\bH800\b.*\bPCIe\b", "H800 PCIe", 756.0, 378.0),
    (r"\bH800\b", "H800 SXM", 989.5, 494.7),
    (r"\bA100\b", "A100", 312.0, 156.0),  # 40 GB and 80 GB, SXM and PCIe: the same tensor-core peak
    (r"\bA800\b", "A800", 312.0, 156.0),
    (r"\bL40S\b", "L40S", 362.05, 183.0),
    (r"\bL40\b", "L40", 181.05, 90.5),
    (r"\bL4\b", "L4", 121.0, 60.0),
    (r"\bA10G\b", "A10G", 70.0, 35.0),
    (r"\bA10\b", "A10", 125.0, 62.5),
]


@dataclass(frozen=True)
class Peak:
    part: str  # which table row (or "peak_tflops")
    precision: str  # "bf16" or "tf32"
    flops: float  # per second, one device


def gpu_peak(name: str, precision: str) -> Optional[Peak]:
    """The table's peak for a device name and the matmul precision in use ("bf16" or "tf32")."""
    for pattern, part, bf16, tf32 in GPU_PEAKS:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return Peak(part, precision, (bf16 if precision == "bf16" else tf32) * 1e12)
    return None


def matmul_precision(device: torch.device, dtype: str) -> Optional[str]:
    """What the model's matmuls run in: bf16 (autocast or FSDP's bf16 parameters) or TF32 (fp32 with TF32 on).
    None for fp32 without TF32, which has no tensor-core peak to compare with."""
    if dtype == "bf16" or (dtype == "auto" and device.type == "cuda"):
        return "bf16"
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return None


def peak_flops(device: torch.device, dtype: str = "auto", override_tflops: Optional[float] = None) -> Optional[Peak]:
    """Peak FLOP/s of one device for the precision training uses, or None when unknown (CPU: no honest single
    number, so MFU is reported null)."""
    if override_tflops:
        return Peak("peak_tflops", matmul_precision(device, dtype) or "fp32", override_tflops * 1e12)
    if device.type != "cuda":
        return None
    precision = matmul_precision(device, dtype)
    return gpu_peak(torch.cuda.get_device_name(device), precision) if precision else None


def mfu(flops_per_token: float, tokens_per_s: Optional[float], world_size: int, peak: Optional[Peak]) -> Optional[float]:
    if not peak or tokens_per_s is None:
        return None
    return flops_per_token * tokens_per_s / (peak.flops * world_size)


class DataWait:
    """Time the device waits for data in one logging interval: the loader's host time, plus on a GPU the
    host-to-device copy, timed by CUDA events on the compute stream (the copy is asynchronous, so host time
    alone would miss it; reading the events at a log step, after the step's sync, costs nothing)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.host = 0.0
        self._t0 = 0.0
        self._events: list[tuple[Any, Any]] = []

    def host_start(self) -> None:
        self._t0 = time.perf_counter()

    def copy(self, batch):
        """`batch` moved to the device; the time since `host_start` counted as waiting."""
        if self.device.type != "cuda":
            moved = batch.to(self.device)
            self.host += time.perf_counter() - self._t0
            return moved
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        self.host += time.perf_counter() - self._t0
        begin.record()
        moved = batch.to(self.device)
        end.record()
        self._events.append((begin, end))
        return moved

    def seconds(self) -> float:
        """Host time plus copy time; call after the device has synchronised (a log step)."""
        return self.host + sum(b.elapsed_time(e) for b, e in self._events) / 1e3


class MetricsLog:
    """Rank 0's `metrics.jsonl`, `events.jsonl` and TensorBoard events, written in a local folder: the run folder
    itself, or for a run folder on an object store a local mirror that `sync` uploads (training.runfolder).

    On resume the lines after the checkpoint's step are dropped first: those steps are about to be re-run,
    and the log should read as one uninterrupted run.
    """

    def __init__(self, local_dir: str | Path, resume_step: int = 0, tensorboard: bool = True):
        self.dir = Path(local_dir)
        self.path = self.dir / "metrics.jsonl"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._truncate_after(resume_step)
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

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
        with open(self.dir / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def flush(self) -> None:
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill
    return out


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """metrics.jsonl of a run folder (any fsspec URL)."""
    from training.runfolder import RunFolder

    return parse_jsonl(RunFolder(str(run_dir)).read_text("metrics.jsonl") or "")
