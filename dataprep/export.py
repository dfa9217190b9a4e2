"""`dataprep export`: a dataset to one JSONL or Parquet file, shard by shard (bounded memory)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.dataset import storage
from dataprep.dataset.reader import Dataset
from dataprep.errors import UserError


def export(ds: Dataset, out: str) -> int:
    """Write every row of `ds` to `out` (format from its suffix); return the number of rows written."""
    fs, path = storage.resolve(out)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    if path.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return _to_jsonl(ds, out)
    if path.endswith(".parquet"):
        return _to_parquet(ds, fs, path)
    raise UserError(f"cannot export to {out}: use a .jsonl, .jsonl.gz or .parquet file name")


def _to_jsonl(ds: Dataset, out: str) -> int:
    import fsspec

    rows = 0
    with fsspec.open(out, "wt", encoding="utf-8", compression="infer") as handle:
        for table in ds.iter_tables():
            for batch in table.to_batches():
                for record in batch.to_pylist():
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    rows += 1
    return rows


def _to_parquet(ds: Dataset, fs, path: str) -> int:
    rows = 0
    with fs.open(path, "wb") as handle:
        writer = pq.ParquetWriter(handle, ds.schema, compression="zstd")
        try:
            for table in ds.iter_tables():
                writer.write_table(table.cast(ds.schema) if table.schema != ds.schema else table)
                rows += table.num_rows
            if rows == 0:
                writer.write_table(pa.Table.from_pylist([], schema=ds.schema))
        finally:
            writer.close()
    return rows
