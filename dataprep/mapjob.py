"""The dataset-to-dataset job: input shard i -> output shard i.

Units, inputs, history and provenance are set here once; a subclass only says which input kinds it takes and
how one input table becomes one output table (`transform`). Tokenize and filter are its users; any later
per-document stage is one more.
"""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa

from dataprep.dataset.reader import Dataset, open_dataset
from dataprep.dataset.stats import StageCount, Stats
from dataprep.shardjob import ShardJob


class DatasetMapJob(ShardJob):
    """Subclasses set `name`, `kind`, `input_kinds`, build `schema`, and implement `transform`."""

    input_kinds: Sequence[str] = ("documents",)

    def __init__(self, in_url: str, out_url: str, config: dict[str, Any], source: Dataset | None = None):
        self.source = source or open_dataset(in_url, kind=tuple(self.input_kinds))
        units = [{"shard": i, "sha256": s.sha256} for i, s in enumerate(self.source.shards)]
        inputs = [{"url": self.source.url, "manifest_sha256": self.source.manifest_sha256()}]
        super().__init__(out_url, units, config, inputs)

    def transform(self, table: pa.Table, stats: Stats) -> pa.Table:
        """One input shard's rows -> the output shard's rows; record this stage's counts in `stats`."""
        raise NotImplementedError

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        table = self.source.read_shard(unit["shard"])
        stats = Stats()
        return self.transform(table, stats), stats

    def unit_label(self, unit: dict) -> str:
        return f"shard {self.source.shards[unit['shard']].path} of {self.source.url}"

    def unit_bytes(self, unit: dict) -> int:
        return self.source.shards[unit["shard"]].bytes

    def history(self) -> list[StageCount]:
        return Stats.from_json(self.source.manifest.stats).stages
