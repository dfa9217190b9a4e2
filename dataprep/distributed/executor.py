"""Runs a ShardJob as a Ray Data pipeline: units -> map tasks that write shards -> a datasink that commits.

Each unit is one Ray Data row (and one block), so units are spread over the cluster and retried one by
one when a worker dies (Ray Data retries tasks lost to system failures); a retried unit rewrites the
same bytes, so the result equals a clean run's. The datasink gathers the shard results
and writes `manifest.json` once every unit has succeeded.
"""

from __future__ import annotations

import json
from typing import Iterable, Optional

import pyarrow as pa
import ray
from ray.data.datasource.datasink import Datasink, WriteResult

from dataprep.dataset.manifest import Manifest
from dataprep.dataset.writer import ShardResult, commit_manifest, refuse_same_folder, uncommit
from dataprep.shardjob import ShardJob

def _run_units(batch: pa.Table, job: ShardJob) -> pa.Table:
    results = [job.run_unit(int(i)).to_json() for i in batch.column("index").to_pylist()]
    return pa.table({"result": [json.dumps(r) for r in results]})


class ManifestDatasink(Datasink):
    """Collects shard results from the write tasks and commits the dataset's manifest on completion."""

    def __init__(self, job: ShardJob):
        self.job = job
        self.manifest: Optional[Manifest] = None
        self.skipped = 0

    def write(self, blocks: Iterable, ctx) -> list[str]:
        out = []
        for block in blocks:
            out.extend(pa.table(block).column("result").to_pylist())
        return out

    def on_write_complete(self, write_result: WriteResult) -> None:
        results = [ShardResult.from_json(json.loads(r)) for part in write_result.write_returns for r in part]
        missing = set(range(len(self.job.units))) - {r.index for r in results}
        if missing:
            raise RuntimeError(f"job finished without shards {sorted(missing)[:10]}")
        self.skipped = sum(r.skipped for r in results)
        self.manifest = commit_manifest(
            self.job.out_url,
            self.job.kind,
            self.job.schema,
            results,
            self.job.provenance(),
            history=self.job.history(),
        )


def run_sharded_job(job: ShardJob, workers: Optional[int] = None) -> tuple[Manifest, int]:
    """Run every unit of `job` on Ray, commit the manifest; return it and the number of reused shards."""
    n = len(job.units)
    refuse_same_folder(job.out_url, [i["url"] for i in job.inputs if "manifest_sha256" in i])
    uncommit(job.out_url)
    sink = ManifestDatasink(job)
    if n == 0:
        sink.on_write_complete(WriteResult(0, 0, []))
        return sink.manifest, 0
    ds = ray.data.from_items([{"index": i} for i in range(n)], override_num_blocks=n)
    ds = ds.map_batches(
        _run_units,
        fn_kwargs={"job": job},
        batch_size=1,
        batch_format="pyarrow",
        concurrency=workers,
        num_cpus=1,
    )
    ds.write_datasink(sink)
    return sink.manifest, sink.skipped
