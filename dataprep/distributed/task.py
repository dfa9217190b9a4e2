"""Running one whole function as a single Ray task (tokenizer training: one process, many threads)."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import ray


def run_as_task(fn: Callable[..., Any], kwargs: dict[str, Any], num_cpus: Optional[int] = None) -> Any:
    """Call fn(**kwargs, threads=num_cpus) on a worker holding `num_cpus` CPUs (default: the largest node's, at most 8).

    `fn` must take a `threads` argument: it is told how many CPUs it was given.
    """
    if num_cpus is None:
        per_node = [n["Resources"].get("CPU", 1) for n in ray.nodes() if n.get("Alive")]
        num_cpus = int(min(max(per_node or [os.cpu_count() or 1]), 8))
    remote = ray.remote(num_cpus=num_cpus, max_retries=1)(fn)
    return ray.get(remote.remote(**{**kwargs, "threads": num_cpus}))
