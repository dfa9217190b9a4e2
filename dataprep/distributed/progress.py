"""Progress bars for work that runs as plain Ray tasks (Ray Data draws its own)."""

from __future__ import annotations

import sys

import ray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def gather(refs: list, label: str) -> list:
    """`ray.get(refs)`, drawing a bar on stderr that advances as tasks finish (only on a terminal)."""
    if not refs or not sys.stderr.isatty():
        return ray.get(refs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(label, total=len(refs))
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.25)
            progress.advance(task, len(ready))
    return ray.get(refs)
