"""`dataprep export`: a dataset to one JSONL or Parquet file, shard by shard (bounded memory).

The file is written whole or not at all: rows go to a temporary file beside the target, renamed over it at the
end (object stores: one upload at the end). An existing file is replaced only when this tool wrote it
(Parquet files carry our mark in their metadata) or with `--overwrite`.
"""

from __future__ import annotations

import json
import os
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.dataset import storage
from dataprep.dataset.lifecycle import check_file_output
from dataprep.dataset.reader import Dataset
from dataprep.errors import UserError

MARK = b"raylm.export"
SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".parquet")


def written_by_us(path: str) -> bool:
    """Only Parquet can carry a mark; a JSONL file is never assumed to be ours."""
    if not path.endswith(".parquet"):
        return False
    try:
        fs, p = storage.resolve(path)
        with fs.open(p, "rb") as handle:
            return MARK in (pq.ParquetFile(handle).schema_arrow.metadata or {})
    except (OSError, pa.ArrowInvalid, ValueError):
        return False


def export(ds: Dataset, out: str, overwrite: bool = False) -> int:
    """Write every row of `ds` to `out` (format from its suffix); return the number of rows written."""
    if not out.endswith(SUFFIXES):
        raise UserError(f"cannot export to {out}: use a .jsonl, .jsonl.gz or .parquet file name")
    check_file_output(out, "-o", written_by_us(out), overwrite, [ds.url])
    fs, path = storage.resolve(out)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    local = storage.is_local(fs)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp") if local else path
    try:
        rows = _to_parquet(ds, fs, tmp) if out.endswith(".parquet") else _to_jsonl(ds, fs, tmp, out)
        if local:
            os.replace(tmp, path)
    except BaseException:
        if local and os.path.exists(tmp):
            os.remove(tmp)
        elif not local and fs.exists(path):
            fs.rm(path)
        raise
    return rows


def _to_jsonl(ds: Dataset, fs, path: str, name: str) -> int:
    import gzip

    rows = 0
    with fs.open(path, "wb") as raw:
        handle = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if name.endswith(".gz") else raw
        for table in ds.iter_tables():
            for batch in table.to_batches():
                lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in batch.to_pylist()]
                handle.write("".join(lines).encode("utf-8"))
                rows += len(lines)
        if handle is not raw:
            handle.close()
    return rows


def _to_parquet(ds: Dataset, fs, path: str) -> int:
    rows = 0
    schema = ds.schema.with_metadata({**(ds.schema.metadata or {}), MARK: ds.url.encode()})
    with fs.open(path, "wb") as handle:
        writer = pq.ParquetWriter(handle, schema, compression="zstd")
        try:
            for table in ds.iter_tables():
                table = table.cast(ds.schema) if table.schema != ds.schema else table
                writer.write_table(table.replace_schema_metadata(schema.metadata))
                rows += table.num_rows
            if rows == 0:
                writer.write_table(schema.empty_table())
        finally:
            writer.close()
    return rows
