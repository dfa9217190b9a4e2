"""Progress for work that runs as plain Ray tasks (the dedup layers): the same reporter as every job."""

from __future__ import annotations

import ray

from dataprep.progress import JobProgress


def gather(refs: list, label: str, enabled: bool = True, final_line: bool = False) -> list:
    """`ray.get(refs)`, advancing a progress reporter as tasks finish."""
    if not refs:
        return []
    with JobProgress(label, len(refs), unit="tasks", enabled=enabled, final_line=final_line) as progress:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.25)
            if ready:
                progress.advance(len(ready))
    return ray.get(refs)
