"""Runs a ShardJob as a Ray Data pipeline: units -> map tasks that each write one shard -> the driver commits.

Each unit is one Ray Data row (and one block), so units are spread over the cluster and retried one by one
when a worker dies (Ray Data retries tasks lost to system failures); a retried unit rewrites the same bytes,
so the result equals a clean run's. The driver streams the shard results back as they finish (that is what
the progress line counts) and commits the manifest through the job's output lifecycle once every unit has
succeeded. A failure leaves the folder unfinished, its finished shards ready to be reused by a re-run.
"""

from __future__ import annotations

import json
from typing import Optional

import pyarrow as pa
import ray

from dataprep.dataset.manifest import Manifest
from dataprep.dataset.writer import ShardResult
from dataprep.errors import UserError
from dataprep.progress import JobProgress
from dataprep.shardjob import ShardJob, run_job


def _run_units(batch: pa.Table, job: ShardJob) -> pa.Table:
    """Run the batch's units. A failure comes back as a row holding its one-line message: raised here, it would
    reach the driver wrapped in Ray Data's exceptions, which do not carry the original error across processes."""
    rows = []
    for i in batch.column("index").to_pylist():
        try:
            rows.append({"result": json.dumps(job.run_unit(int(i)).to_json()), "error": None})
        except UserError as exc:
            rows.append({"result": None, "error": str(exc)})
    return pa.Table.from_pylist(rows, schema=pa.schema([("result", pa.string()), ("error", pa.string())]))


def run_sharded_job(job: ShardJob, workers: Optional[int] = None, progress: bool = True) -> tuple[Manifest, int]:
    """Run every unit of `job` on Ray and commit its manifest; return it and the number of reused shards."""
    return run_job(job, lambda: _results(job, workers, progress))


def _results(job: ShardJob, workers: Optional[int], progress: bool):
    n = len(job.units)
    if n == 0:
        return
    total_bytes = sum(job.unit_bytes(u) for u in job.units)
    ds = ray.data.from_items([{"index": i} for i in range(n)], override_num_blocks=n)
    ds = ds.map_batches(_run_units, fn_kwargs={"job": job}, batch_size=1, batch_format="pyarrow",
                        compute=ray.data.TaskPoolStrategy(size=workers), num_cpus=1)
    with JobProgress(job.name, n, total_bytes, enabled=progress) as bar:
        for row in ds.iter_rows():
            if row["error"] is not None:
                raise UserError(row["error"])
            result = ShardResult.from_json(json.loads(row["result"]))
            bar.advance(rows=result.info.rows, nbytes=job.unit_bytes(job.units[result.index]))
            yield result
