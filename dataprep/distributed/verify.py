"""`dataprep verify --address`: each shard checked by a task on the cluster's workers."""

from __future__ import annotations

from typing import Optional

import ray

from dataprep.distributed.runtime import ray_session
from dataprep.verify import check_shard


def check_on_ray(jobs: list[tuple], address: str, workers: Optional[int] = None) -> list[Optional[str]]:
    with ray_session(address):
        remote = ray.remote(num_cpus=1)(check_shard)
        refs, results = [], []
        for job in jobs:
            if workers and len(refs) >= workers:
                results.append(ray.get(refs.pop(0)))
            refs.append(remote.remote(*job))
        return results + ray.get(refs)
