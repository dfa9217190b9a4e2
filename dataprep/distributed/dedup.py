"""`dataprep dedup` on Ray: exact and MinHash near-duplicate removal as layers of tasks joined by hash shuffles.

Layers (every arrow is a shuffle of task outputs into P hash partitions, `dataprep.distributed.shuffle`; each
layer's computation is a pure function in `dataprep.dedup`, its task in `dataprep.distributed.dedup_tasks`):

  sign (one task per input shard)  -> band rows by band key, text hashes by hash, (node, id) by node
  band / exact (P tasks each)       -> candidate edges: each band bucket and each group of equal texts joined
                                       to one member; exact also lists the removed copies by output shard
  large-star / small-star (P each)  -> repeated until the edge set stops changing: stars around component minima
  attach (P)                        -> (component, node, id) by component
  choose (P)                        -> keeps the smallest id of each component; removals by output shard, and
                                       with --keep-clusters the rows of one `clusters` shard per partition
  write (one task per output shard) -> output shard i = the surviving rows of input shard i; clusters shard p

A node is (input shard << 32 | row); which document survives is decided by `id` (then node) only, and the
components do not depend on partitioning, so the kept ids are the same for any number of workers, partitions
or input shards. P depends on the input only (its shards and rows, never the workers, so the `clusters` shards
are byte-identical anywhere) and grows with the corpus (`rows_per_partition`), so each task holds a bounded
share of signatures, edges and ids; the driver holds object references and counters. Tasks are pure, so Ray's
retry of a task lost with its worker recomputes the same pieces; both outputs go through `OutputDataset`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import pyarrow as pa

from dataprep.dataset.lifecycle import OutputTarget
from dataprep.dataset.manifest import Manifest
from dataprep.dataset.reader import open_dataset
from dataprep.dataset.schemas import CLUSTERS
from dataprep.dataset.stats import Stats
from dataprep.dataset.writer import ShardResult, ShardWriter, build_manifest
from dataprep.dedup.components import Convergence, summed
from dataprep.dedup.job import dedup_job_key, dedup_targets, job_key as _job_key
from dataprep.dedup.params import DedupParams
from dataprep.dedup.partitions import partition_count
from dataprep.dedup.report import CLUSTERS_STAGE, clusters_section, dedup_section
from dataprep.distributed.dedup_tasks import (ATTACH, BAND, CHOOSE, EXACT, LARGE_STAR, SIGN, SMALL_STAR,
                                              WRITE_CLUSTERS, WRITE_DOCUMENTS)
from dataprep.distributed.shuffle import Call, TaskSubmitter
from dataprep.distributed.task_memory import largest
from dataprep.errors import UserError
from dataprep.version import code_version

ROWS_PER_PARTITION = 100_000  # documents per shuffle partition: bounds every task's share of the data
MAX_ROUNDS = 64


class OutputDataset:
    """A dataset this job writes (the documents, or --keep-clusters' clusters): the only place dedup does output
    I/O, through the output lifecycle every job shares (`dataprep.dataset.lifecycle`). `begin` takes the folder
    (lease, earlier manifest withdrawn), `write_shard` runs inside write tasks (a shard already written intact by
    the same job is reused), `commit` writes the manifest last."""

    def __init__(self, target: OutputTarget, writer: ShardWriter):
        self.target, self.writer = target, writer

    @classmethod
    def open(cls, target: OutputTarget, kind: str, schema: pa.Schema, job_key: str) -> "OutputDataset":
        return cls(target, ShardWriter(target.url, kind, schema, job_key, compression="zstd"))

    def __getstate__(self) -> dict:
        return {"target": None, "writer": self.writer}  # write tasks need only the writer

    def begin(self) -> None:
        self.target.begin(self.writer.job_key)

    def write_shard(self, index: int, rows: Callable[[], tuple[pa.Table, Stats]]) -> ShardResult:
        return self.writer.completed(index) or self.writer.write(index, *rows())

    def commit(self, results: Iterable[ShardResult], provenance: dict[str, Any], *, history: Optional[list] = None,
               stats: Optional[Stats] = None, extra_stats: Optional[dict[str, Any]] = None) -> Manifest:
        manifest = build_manifest(self.writer.kind, self.writer.schema, results,
                                  {**provenance, "job_key": self.writer.job_key}, history=history, stats=stats,
                                  extra_stats=extra_stats)
        return self.target.commit(manifest)

    def release(self) -> None:
        self.target.release()


@dataclass
class DedupSummary:
    manifest: Manifest
    skipped: int
    stats: dict[str, Any]
    memory: dict[str, dict] = field(default_factory=dict)  # per layer: largest task peak RSS / working set (MiB)


def run_dedup(
    in_url: str,
    out_url: str,
    params: DedupParams,
    workers: Optional[int] = None,
    keep_clusters: Optional[str] = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    partitions: Optional[int] = None,
    progress: bool = True,
) -> DedupSummary:
    """Deduplicate the documents dataset at `in_url` into `out_url` (inside a Ray session)."""
    ds = open_dataset(in_url, kind="documents")
    if "text" not in ds.schema.names or "id" not in ds.schema.names:
        raise UserError(f"{in_url} has no id/text columns; dedup needs a documents dataset")
    partitions = partitions or partition_count(len(ds.shards), ds.manifest.rows, rows_per_partition)
    job_key = dedup_job_key(ds, params)
    targets = dedup_targets(in_url, out_url, keep_clusters)
    documents = OutputDataset.open(targets[0], "documents", ds.schema, job_key)
    clusters = None
    if keep_clusters:  # shard p holds the components of partition p: a receipt is valid for the same P only
        clusters_key = _job_key({"job": CLUSTERS_STAGE, "dedup": job_key, "partitions": partitions})
        clusters = OutputDataset.open(targets[1], "clusters", CLUSTERS, clusters_key)
    outputs = [o for o in (clusters, documents) if o is not None]
    for output in outputs:
        output.begin()
    try:
        return _run_layers(ds, in_url, out_url, params, partitions, workers, documents, clusters, progress)
    finally:
        for output in outputs:
            output.release()


def _run_layers(ds, in_url, out_url, params, partitions, workers, documents, clusters, progress) -> DedupSummary:
    input_shards = [(ds.shard_url(i), shard, in_url) for i, shard in enumerate(ds.shards)]
    tasks = TaskSubmitter(partitions, workers, progress)
    each_partition = range(partitions)
    clock = _Clock()

    signed = tasks.layer(SIGN, [Call(shard, i, params, partitions) for i, shard in enumerate(input_shards)])
    sign_info = signed.infos("dedup: signatures")
    clock.lap("sign")

    banded = tasks.layer(BAND, [Call(params, partitions, bands=signed.bands[p]) for p in each_partition])
    exacted = tasks.layer(EXACT, [Call(partitions, hashes=signed.exact[p]) for p in each_partition]
                          if params.exact else [])
    band_info = banded.infos("dedup: band buckets")
    exact_info = exacted.infos("dedup: exact hashes")
    clock.lap("band_exact")

    edges = [banded.edges[p] + exacted.edges[p] for p in each_partition]
    has_edges = sum(i["edges"] for i in band_info) + sum(i["exact_removed"] for i in exact_info) > 0
    stars, components_info, rounds, candidate_pairs = _components(tasks, edges) if has_edges else (edges, [], 0, 0)
    clock.lap("components")

    attached = tasks.layer(ATTACH, [Call(partitions, stars=stars[p], ids=signed.ids[p]) for p in each_partition]
                           if has_edges else [])
    chosen = tasks.layer(CHOOSE, [Call(partitions, clusters is not None, members=attached.members[p])
                                  for p in each_partition] if has_edges else [])
    attach_info = attached.infos("dedup: attach ids")
    choose_info = chosen.infos("dedup: choose survivors")
    del signed, banded, edges, stars, attached
    clock.lap("choose")

    written = tasks.layer(WRITE_DOCUMENTS, [
        Call(documents, shard, i, params.exact, exact_removals=exacted.removals[i % partitions],
             near_removals=chosen.removals[i % partitions]) for i, shard in enumerate(input_shards)])
    clusters_written = tasks.layer(WRITE_CLUSTERS, [Call(clusters, p, rows=rows) for p, rows in
                                                    enumerate(chosen.clusters)] if clusters else [])
    write_info = written.infos("dedup: write shards", last=True)
    clusters_info = clusters_written.infos("dedup: write clusters")
    clock.lap("write")

    results = [ShardResult.from_json(w["result"]) for w in write_info]
    sizes: Counter = Counter()
    for info in choose_info:
        sizes.update({int(k): v for k, v in info["sizes"].items()})
    dedup_stats = dedup_section(
        params, ds.manifest.rows, sum(r.info.rows for r in results), Stats.merged(r.stats for r in results),
        without_tokens=sum(i["empty"] for i in sign_info), candidate_pairs=candidate_pairs, cluster_sizes=sizes,
        cc_rounds=rounds)
    provenance = {
        "job": "dedup", "inputs": [{"url": in_url, "manifest_sha256": ds.manifest_sha256()}],
        "config": params.to_json(), "code_version": code_version(),
    }
    if clusters is not None:  # committed before the documents, so a committed output means a finished job
        _commit_clusters(clusters, [ShardResult.from_json(i["result"]) for i in clusters_info], dedup_stats,
                         {**provenance, "job": CLUSTERS_STAGE, "output": out_url})
    manifest = documents.commit(results, provenance, history=Stats.from_json(ds.manifest.stats).stages,
                                extra_stats={"dedup": dedup_stats})
    memory = {
        "sign": largest(sign_info), "band": largest(band_info), "exact": largest(exact_info),
        "components": largest(components_info), "attach": largest(attach_info), "choose": largest(choose_info),
        "write": largest(write_info + clusters_info),
    }
    run_info = {"partitions": partitions, "seconds": clock.laps,
                "band_edges_per_partition_sum": sum(i["edges"] for i in band_info)}
    return DedupSummary(manifest, sum(r.skipped for r in results), {**dedup_stats, **run_info}, memory)


def _components(tasks: TaskSubmitter, edges: list[list]) -> tuple[list[list], list[dict], int, int]:
    """Large-star / small-star rounds until neither changes the edge set. `edges[p]`: partition p's edge pieces
    (both directions, at src). Returns the converged stars the same way, every task's info, the rounds and the
    number of distinct candidate edges."""
    each_partition = range(tasks.partitions)
    convergence, infos, rounds = Convergence(), [], 0
    while True:
        large = tasks.layer(LARGE_STAR, [Call(tasks.partitions, edges=edges[p]) for p in each_partition])
        large_info = large.infos(f"dedup: components round {rounds + 1}")
        infos += large_info
        if convergence.add(summed([i["fp"] for i in large_info])):
            return edges, infos, rounds, convergence.fingerprints[0][0]  # this large-star's input is stars
        small = tasks.layer(SMALL_STAR, [Call(tasks.partitions, edges=large.edges[p]) for p in each_partition])
        small_info = small.infos()
        infos += small_info
        convergence.add(summed([i["fp"] for i in small_info]))
        edges = [small.edges[p] for p in each_partition]
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")


def _commit_clusters(output: OutputDataset, results: list[ShardResult], dedup: dict, provenance: dict) -> Manifest:
    """The `clusters` dataset's manifest, written last: a stage with its rows, and the cluster-size histogram."""
    stats, section = clusters_section(dedup, sum(r.info.rows for r in results))
    return output.commit(results, provenance, stats=stats, extra_stats={"clusters": section})


class _Clock:
    def __init__(self):
        self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 3)
        self.last = now
