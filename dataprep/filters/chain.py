"""A filter chain: stages applied in order to batches of documents; the pure entry point of `dataprep filter`.

    kept, rejected, stats = FilterChain.from_config(load_filter_config()).apply(table)

`kept` has the input's columns (with `lang`, `meta` and `text` as the stages rewrote them); `rejected` has them plus
`filter` (the stage), `reason`, `value` (what the rule measured) and `threshold` (what it had to reach). `stats` holds
one stage per filter (rows in, rows out, dropped by reason), the mappers' counters and each stage's time in
milliseconds (`time_ms.<stage>` counters). Rows are processed in fixed batches, so results do not depend on how a
dataset is split into tasks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa

from dataprep.dataset.stats import Stats
from dataprep.filters.base import Stage
from dataprep.filters.batch import Batch
from dataprep.filters.config import FilterConfig

BATCH_ROWS = 1024  # documents per batch: features of one batch stay in memory together
REJECT_COLUMNS = [("filter", pa.string()), ("reason", pa.string()), ("value", pa.float64()),
                  ("threshold", pa.float64())]


class ChainResult(NamedTuple):
    kept: pa.Table
    rejected: pa.Table
    stats: Stats


def rejected_schema(schema: pa.Schema) -> pa.Schema:
    out = schema
    for name, dtype in REJECT_COLUMNS:
        out = out.append(pa.field(name, dtype))
    return out


class FilterChain:
    def __init__(self, stages: list[Stage]):
        self.stages = stages

    @classmethod
    def from_config(cls, config: FilterConfig) -> "FilterChain":
        return cls([stage.build() for stage in config.stages])

    def apply(self, table: pa.Table) -> ChainResult:
        stats = Stats()
        for stage in self.stages:  # every stage appears, even for an empty input
            stats.record_stage(stage.name, 0, 0)
        kept, rejected = [], []
        for start in range(0, table.num_rows, BATCH_ROWS):
            batch_kept, batch_rejected = self._batch(table.slice(start, BATCH_ROWS), stats)
            kept.append(batch_kept)
            rejected.extend(batch_rejected)
        kept_table = pa.concat_tables(kept) if kept else table.schema.empty_table()
        reject_schema = rejected_schema(table.schema)
        rejected_table = (pa.concat_tables([t.cast(reject_schema) for t in rejected]) if rejected
                          else reject_schema.empty_table())
        return ChainResult(kept_table.cast(table.schema), rejected_table, stats)

    def _batch(self, table: pa.Table, stats: Stats) -> tuple[pa.Table, list[pa.Table]]:
        batch = Batch(table)
        rejected = []
        for stage in self.stages:
            result = stage.run(batch, stats)
            if result.columns:
                batch = batch.with_columns(result.columns)
            dropped = ~result.keep
            if dropped.any():
                rejected.append(_rejected_rows(batch.table, stage.name, result, dropped))
                batch = batch.subset(result.keep)
        return batch.table, rejected


def _rejected_rows(table: pa.Table, stage: str, result, dropped: np.ndarray) -> pa.Table:
    indices = np.flatnonzero(dropped)
    rows = table.take(pa.array(indices))
    n = len(indices)
    columns = {"filter": pa.array([stage] * n, pa.string()),
               "reason": pa.array(result.reason[indices].tolist(), pa.string()),
               # NaN (a rule without a numeric threshold, such as the keep-list) is written as null
               "value": pa.array(result.value[indices], pa.float64(), from_pandas=True),
               "threshold": pa.array(result.threshold[indices], pa.float64(), from_pandas=True)}
    for name, column in columns.items():
        rows = rows.append_column(name, column)
    return rows
