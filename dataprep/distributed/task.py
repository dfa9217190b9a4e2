"""Running one whole function as a single Ray task (tokenizer training: one process, many threads)."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import ray


def largest_node_cpus() -> int:
    """The CPU count of the largest alive node (this machine's when Ray reports none)."""
    per_node = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return max(int(max(per_node or [0])), 0) or (os.cpu_count() or 1)


def run_as_task(fn: Callable[..., Any], kwargs: dict[str, Any], num_cpus: Optional[int] = None) -> Any:
    """Call fn(**kwargs, threads=n) on a worker holding n CPUs: n = `num_cpus` (default 8), at most the largest
    node's CPU count, since a task asking for more CPUs than any node has would wait forever.

    `fn` must take a `threads` argument: it is told how many CPUs it was given.
    """
    largest = largest_node_cpus()
    num_cpus = max(1, min(int(num_cpus) if num_cpus else 8, largest))
    remote = ray.remote(num_cpus=num_cpus, max_retries=1)(fn)
    return ray.get(remote.remote(**{**kwargs, "threads": num_cpus}))
