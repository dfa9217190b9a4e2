"""A job that maps independent work units to output shards, one shard per unit.

The unit list is fixed before any work starts (input files cut into byte ranges, or the input dataset's
shards), and shard `i` is a pure function of unit `i`. That is what makes the output byte-identical
whatever the number of workers, and what lets a re-submitted job skip the shards that are already done.
This module knows nothing of Ray; `dataprep.distributed.executor` runs a ShardJob on a cluster, through the
output lifecycle (`dataprep.dataset.lifecycle`) that every job shares.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterable, Optional

import pyarrow as pa

from dataprep.dataset.lifecycle import OutputTarget
from dataprep.dataset.manifest import Manifest
from dataprep.dataset.stats import StageCount, Stats
from dataprep.dataset.writer import ShardResult, ShardWriter, build_manifest
from dataprep.errors import UserError
from dataprep.version import code_version


class ShardJob:
    """Subclasses set `kind`, `schema`, `units` and implement `process` and `unit_label`."""

    name: str = "job"
    kind: str
    schema: pa.Schema
    compression: Optional[str] = "zstd"

    def __init__(self, out_url: str, units: list[dict[str, Any]], config: dict[str, Any], inputs: list[dict] = ()):
        self.out_url = str(out_url)
        self.units = units
        self.config = config
        self.inputs = list(inputs)  # [{"url":..., "manifest_sha256":...}] of input datasets, or input files
        self.target = OutputTarget(self.out_url)

    # -- to implement -------------------------------------------------------------------------
    def process(self, unit: dict[str, Any]) -> tuple[pa.Table, Stats]:
        """Turn one unit into the rows of one shard plus its stats. Must be deterministic."""
        raise NotImplementedError

    def unit_label(self, unit: dict[str, Any]) -> str:
        """How an error names the unit: the input file (and byte range) or the input shard."""
        return str(unit)

    def unit_bytes(self, unit: dict[str, Any]) -> int:
        """Input bytes of a unit, for the progress line's MB/s."""
        return 0

    def shard_tokens(self, table: pa.Table) -> Optional[int]:
        return None

    def history(self) -> list[StageCount]:
        """Stage counts of the input dataset(s), prepended to this job's own."""
        return []

    def job_stats(self) -> Stats:
        """Stats the driver knows before any unit runs (input files skipped at planning)."""
        return Stats()

    def extra_stats(self) -> dict[str, Any]:
        return {}

    def extra_provenance(self) -> dict[str, Any]:
        return {}

    def secondary_targets(self) -> list[OutputTarget]:
        """Other datasets this job writes beside its main output (rejected rows, clusters)."""
        return []

    def secondary_manifests(self, results: list[ShardResult]) -> list[Manifest]:
        """The manifests of `secondary_targets`, in the same order, once every unit has run."""
        return []

    def completed(self, index: int) -> Optional[ShardResult]:
        """The unit's result if an earlier run of this same job already wrote everything it writes."""
        return self.writer().completed(index)

    # -- shared machinery ---------------------------------------------------------------------
    def input_datasets(self) -> list[str]:
        return [i["url"] for i in self.inputs if "manifest_sha256" in i]

    def input_files(self) -> list[str]:
        return [i["url"] for i in self.inputs if "manifest_sha256" not in i]

    def check(self) -> None:
        """Everything about the outputs that can be refused before any work: see `OutputTarget.check`."""
        secondary = self.secondary_targets()
        targets = [self.target, *secondary]
        for t in targets:
            t.check(self.input_datasets(), self.input_files(), others=[o for o in targets if o is not t])

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
        """Write shard `index` (or find it already written); any failure names the unit in one line."""
        unit = self.units[index]
        try:
            done = self.completed(index)
            if done is not None:
                return done
            table, stats = self.process(unit)
            return self.writer().write(index, table, stats, tokens=self.shard_tokens(table))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - named here, where the unit is known
            first = (str(exc).strip().splitlines() or [""])[0]
            raise UserError(f"{self.name} failed on {self.unit_label(unit)}: {type(exc).__name__}: {first}") from exc

    def provenance(self) -> dict[str, Any]:
        return {
            "job": self.name,
            "job_key": self.job_key(),
            "inputs": self.inputs,
            "config": self.config,
            "code_version": code_version(),
            **self.extra_provenance(),
        }

    def finished(self) -> bool:
        """Every output of this job is committed with this job's key: a re-run has nothing to do."""
        key = self.job_key()
        return all(committed_job_key(t.url) == key for t in (self.target, *self.secondary_targets()))

    def manifest(self, results: list[ShardResult]) -> Manifest:
        stats = Stats.merged(r.stats for r in sorted(results, key=lambda r: r.index)).merge(self.job_stats())
        return build_manifest(self.kind, self.schema, results, self.provenance(), history=self.history(),
                              extra_stats=self.extra_stats() or None, stats=stats)


def run_job(job: ShardJob, results: Callable[[], Iterable[ShardResult]]) -> tuple[Manifest, int]:
    """The output lifecycle around a job's units: check, take the outputs, run `results()` (the units, wherever
    they run), commit the secondary outputs then the main one. Returns the manifest and the shards reused."""
    job.check()
    secondary = job.secondary_targets()
    key = job.job_key()
    for target in (*secondary, job.target):
        target.begin(key)
    try:
        done = list(results())
        missing = set(range(len(job.units))) - {r.index for r in done}
        if missing:
            raise RuntimeError(f"job finished without shards {sorted(missing)[:10]}")
        # Secondary outputs first: a committed main output then means a finished job.
        for target, manifest in zip(secondary, job.secondary_manifests(done)):
            target.commit(manifest)
        manifest = job.target.commit(job.manifest(done))
    finally:
        for target in (*secondary, job.target):
            target.release()
    return manifest, sum(r.skipped for r in done)


def run_in_process(job: ShardJob) -> tuple[Manifest, int]:
    """Every unit here, one after the other (tests and tools; `dataprep.distributed.executor` runs them on Ray)."""
    return run_job(job, lambda: (job.run_unit(i) for i in range(len(job.units))))


def committed_job_key(url: str) -> Optional[str]:
    """The job key recorded in a committed dataset's manifest, or None (no dataset, or an older one)."""
    from dataprep.dataset import storage
    from dataprep.dataset.manifest import MANIFEST_NAME

    fs, root = storage.resolve(url)
    try:
        return Manifest.from_bytes(fs.cat_file(storage.join(root, MANIFEST_NAME))).provenance.get("job_key")
    except (FileNotFoundError, OSError, ValueError):
        return None
