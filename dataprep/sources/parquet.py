"""Parquet documents: one work unit per row group; columns are matched by name like JSONL fields."""

from __future__ import annotations

import pyarrow.parquet as pq

from dataprep.dataset import storage
from dataprep.sources.jsonl import RecordOptions, add_record
from dataprep.sources.records import DocumentBuilder
from dataprep.sources.source import Source


def plan(file, opts, unit_bytes: int) -> list[dict]:
    fs, path = storage.resolve(file.url)
    with fs.open(path, "rb") as handle:
        groups = pq.ParquetFile(handle).metadata.num_row_groups
    return [{"format": "parquet", "url": file.url, "source": file.name, "row_group": g} for g in range(max(groups, 1))]


def read(unit: dict, builder: DocumentBuilder, opts) -> None:
    fs, path = storage.resolve(unit["url"])
    with fs.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        if parquet.metadata.num_row_groups == 0:
            return
        table = parquet.read_row_group(unit["row_group"])
    base = sum(parquet.metadata.row_group(g).num_rows for g in range(unit["row_group"]))
    for i, record in enumerate(table.to_pylist()):
        # Row number inside the file is the parquet analogue of a byte offset.
        add_record(builder, record, unit["source"], f"{unit['source']}#{base + i}", opts.text_field)


SOURCE = Source("parquet", "documents", (".parquet",), plan, read, "Parquet files (one unit per row group)",
                magic=b"PAR1", text=False, options=RecordOptions)
