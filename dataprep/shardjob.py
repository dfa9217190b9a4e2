"""A job that maps independent work units to output shards, one shard per unit.

The unit list is fixed before any work starts (input files cut into byte ranges, or the input dataset's
shards), and shard `i` is a pure function of unit `i`. That is what makes the output byte-identical
whatever the number of workers, and what lets a re-submitted job skip the shards that are already done.
This module knows nothing of Ray; `dataprep.distributed.executor` runs a ShardJob on a cluster.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

import pyarrow as pa

from dataprep.version import code_version
from dataprep.dataset.stats import StageCount, Stats
from dataprep.dataset.writer import ShardResult, ShardWriter


class ShardJob:
    """Subclasses set `kind`, `schema`, `units` and implement `process`."""

    name: str = "job"
    kind: str
    schema: pa.Schema
    compression: Optional[str] = "zstd"

    def __init__(self, out_url: str, units: list[dict[str, Any]], config: dict[str, Any], inputs: list[dict] = ()):
        self.out_url = str(out_url)
        self.units = units
        self.config = config
        self.inputs = list(inputs)  # [{"url":..., "manifest_sha256":...}] of input datasets, or input files

    # -- to implement -------------------------------------------------------------------------
    def process(self, unit: dict[str, Any]) -> tuple[pa.Table, Stats]:
        """Turn one unit into the rows of one shard plus its stats. Must be deterministic."""
        raise NotImplementedError

    def shard_tokens(self, table: pa.Table) -> Optional[int]:
        return None

    def history(self) -> list[StageCount]:
        """Stage counts of the input dataset(s), prepended to this job's own."""
        return []

    def extra_provenance(self) -> dict[str, Any]:
        return {}

    # -- shared machinery ---------------------------------------------------------------------
    def job_key(self) -> str:
        """Identifies the job's output: same key means the same shards may be reused."""
        blob = json.dumps(
            {"name": self.name, "config": self.config, "inputs": self.inputs, "units": self.units,
             "version": code_version()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def writer(self) -> ShardWriter:
        return ShardWriter(self.out_url, self.kind, self.schema, self.job_key(), self.compression)

    def run_unit(self, index: int) -> ShardResult:
        writer = self.writer()
        done = writer.completed(index)
        if done is not None:
            return done
        table, stats = self.process(self.units[index])
        return writer.write(index, table, stats, tokens=self.shard_tokens(table))

    def provenance(self) -> dict[str, Any]:
        return {
            "job": self.name,
            "inputs": self.inputs,
            "config": self.config,
            "code_version": code_version(),
            **self.extra_provenance(),
        }
