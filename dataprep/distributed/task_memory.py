"""What one task costs in memory: its process's peak RSS and its working set, measured from inside the task.

Workers are reused from task to task, so the peak mark is reset when a task starts (Linux `clear_refs`); the
working set = the peak's growth during the task + the bytes of its (already deserialized) inputs, which is
the figure that must stay flat as a corpus grows when every task holds a bounded share of it.
"""

from __future__ import annotations

import resource
from typing import Any, Iterable, Optional

FIGURES = ("peak_mb", "work_mb", "input_mb")


def _status_mb(field_name: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def nbytes(x: Any) -> int:
    """Bytes of the arrays in `x` (numpy or Arrow, nested in dicts, lists and tuples); other values count 0."""
    if isinstance(x, dict):
        return sum(nbytes(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return sum(nbytes(v) for v in x)
    return int(getattr(x, "nbytes", 0))


class TaskMemory:
    """Started when a task starts, with its inputs; `figures()` when it ends."""

    def __init__(self, inputs: Any = ()):
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # reset VmHWM to the current RSS
        except OSError:
            pass
        self.start_mb = _status_mb("VmRSS") or 0.0
        self.input_mb = nbytes(inputs) / 2**20

    def figures(self) -> dict[str, float]:
        peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"peak_mb": peak, "work_mb": max(peak - self.start_mb, 0.0) + self.input_mb, "input_mb": self.input_mb}


def largest(infos: Iterable[dict]) -> dict[str, float]:
    """The largest of each figure among a layer's tasks, in MiB."""
    infos = list(infos)
    return {key: round(max((i.get(key, 0.0) for i in infos), default=0.0), 1) for key in FIGURES}
