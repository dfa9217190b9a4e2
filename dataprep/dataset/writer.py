"""Writing dataset folders: idempotent shards, then the manifest as the commit point.

A shard's bytes are a pure function of its rows: the table is re-chunked to a fixed batch size and
written as an Arrow IPC file, so the same input gives byte-identical shards whatever the worker count.
Beside each shard a small receipt (`part-NNNNN.arrow.done.json`) records the job key, sha256 and the
shard's stats; a re-submitted job with the same key finds the receipt, checks the shard's hash and
skips the work. Readers never look at receipts: only `manifest.json` makes shards visible.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import pyarrow as pa

from dataprep.dataset import storage
from dataprep.dataset.manifest import Manifest, ShardInfo, schema_to_json
from dataprep.dataset.schemas import check_schema
from dataprep.dataset.stats import Stats

ROWS_PER_BATCH = 8192
RECEIPT_SUFFIX = ".done.json"


def shard_name(index: int) -> str:
    return f"shards/part-{index:05d}.arrow"


def serialize_table(table: pa.Table, compression: Optional[str] = None) -> bytes:
    """Arrow IPC file bytes; token shards stay uncompressed so they can be memory-mapped."""
    table = table.combine_chunks()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        for batch in table.to_batches(max_chunksize=ROWS_PER_BATCH):
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


@dataclass
class ShardResult:
    """What a worker reports back for one written (or already present) shard."""

    index: int
    info: ShardInfo
    stats: Stats
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "info": self.info.model_dump(exclude_none=True),
            "stats": self.stats.to_json(),
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ShardResult":
        return cls(data["index"], ShardInfo(**data["info"]), Stats.from_json(data["stats"]), data.get("skipped", False))


class ShardWriter:
    """Writes the shards of one output dataset. Picklable: workers get a copy."""

    def __init__(self, url: str, kind: str, schema: pa.Schema, job_key: str, compression: Optional[str] = None):
        check_schema(kind, schema)
        self.url = str(url)
        self.kind = kind
        self.schema = schema
        self.job_key = job_key
        # Token shards are memory-mapped by training, so they are never compressed.
        self.compression = None if kind == "tokens" else compression

    def _fs(self):
        return storage.resolve(self.url)

    def completed(self, index: int) -> Optional[ShardResult]:
        """The shard's result if an earlier run of this same job already wrote it intact."""
        fs, root = self._fs()
        path = storage.join(root, shard_name(index))
        receipt_path = path + RECEIPT_SUFFIX
        try:
            receipt = json.loads(fs.cat_file(receipt_path))
        except (FileNotFoundError, OSError, ValueError):
            return None
        if receipt.get("job_key") != self.job_key:
            return None
        result = ShardResult.from_json(receipt["result"])
        try:
            if fs.size(path) != result.info.bytes or storage.sha256_file(fs, path) != result.info.sha256:
                return None
        except FileNotFoundError:
            return None
        result.skipped = True
        return result

    def write(self, index: int, table: pa.Table, stats: Stats, tokens: Optional[int] = None) -> ShardResult:
        if table.schema != self.schema:
            table = table.select(self.schema.names).cast(self.schema)
        data = serialize_table(table, self.compression)
        info = ShardInfo(
            path=shard_name(index),
            rows=table.num_rows,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            tokens=tokens,
        )
        result = ShardResult(index, info, stats)
        fs, root = self._fs()
        path = storage.join(root, info.path)
        storage.atomic_write(fs, path, data)
        receipt = {"job_key": self.job_key, "result": result.to_json()}
        storage.atomic_write(fs, path + RECEIPT_SUFFIX, json.dumps(receipt, sort_keys=True).encode())
        return result


def build_manifest(
    kind: str,
    schema: pa.Schema,
    results: Iterable[ShardResult],
    provenance: dict[str, Any],
    history: Optional[list] = None,
    extra_stats: Optional[dict[str, Any]] = None,
    stats: Optional[Stats] = None,
) -> Manifest:
    """The manifest of a finished job's shards (ordered by index). The output lifecycle writes it, last.

    `stats` replaces the merge of the shards' own stats when the caller knows better (a global stage).
    """
    ordered = sorted(results, key=lambda r: r.index)
    indices = [r.index for r in ordered]
    if len(set(indices)) != len(indices):
        raise ValueError(f"duplicate shard indices in job output: {indices}")
    if stats is None:
        stats = Stats.merged(r.stats for r in ordered)
    if history:
        stats.with_history(history)
    stats_json = stats.to_json()
    if extra_stats:
        stats_json.update(extra_stats)
    return Manifest(
        kind=kind,
        schema=schema_to_json(schema),
        shards=[r.info for r in ordered],
        stats=stats_json,
        provenance=provenance,
    )


def write_dataset(
    url: str,
    kind: str,
    tables: Iterable[pa.Table],
    schema: Optional[pa.Schema] = None,
    stats: Optional[Stats] = None,
    provenance: Optional[dict[str, Any]] = None,
    compression: Optional[str] = "zstd",
) -> Manifest:
    """Write a small dataset in this process, one shard per table (for tests, tools and benchmarks).

    Token tables may carry a `tokens` count per shard through their row lengths; it is filled in here.
    """
    from dataprep.dataset.lifecycle import OutputTarget

    tables = list(tables)
    if schema is None:
        if not tables:
            raise ValueError("write_dataset needs a schema when there are no tables")
        schema = tables[0].schema
    target = OutputTarget(url)
    target.begin("write_dataset")
    writer = ShardWriter(url, kind, schema, job_key="write_dataset", compression=compression)
    results = []
    for index, table in enumerate(tables):
        tokens = None
        if kind == "tokens":
            tokens = int(pa.compute.sum(pa.compute.list_value_length(table["tokens"])).as_py() or 0)
        shard_stats = Stats()
        shard_stats.record_stage("write", table.num_rows, table.num_rows)
        results.append(writer.write(index, table, shard_stats, tokens=tokens))
    return target.commit(build_manifest(kind, schema, results, provenance or {}, stats=stats))
