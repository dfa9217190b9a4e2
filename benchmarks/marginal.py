"""End-to-end timing of CLI commands and marginal throughput, shared by the benchmarks.

A command's wall time = fixed start-up (Python, Ray) + work. Timing it on a small and a big input gives the
marginal rate (big - small) / (t_big - t_small), free of the start-up, and the start-up itself as
t_small - small / rate: both are reported, so the rate compares with an in-process library call.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent


def cli_env(pythonpath: str | None = None) -> dict:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env["PYTHONPATH"] = (pythonpath or str(ROOT)) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def time_cli(args: Sequence[str], pythonpath: str | None = None, module: str = "dataprep.cli") -> float:
    """Seconds for `python -m MODULE ARGS...` to finish (it must succeed), run from the root of the code tree
    `pythonpath` (`-m` puts the working directory first on sys.path)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], env=cli_env(pythonpath),
                          capture_output=True, text=True, cwd=pythonpath or str(ROOT))
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds


def marginal(small_units: float, t_small: float, big_units: float, t_big: float) -> dict:
    rate = (big_units - small_units) / max(t_big - t_small, 1e-9)
    return {"rate": rate, "startup_s": max(t_small - small_units / rate, 0.0) if rate > 0 else None}
