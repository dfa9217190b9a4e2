"""`dataprep filter`: a documents dataset -> a documents dataset, input shard i -> output shard i.

Each shard goes through the FilterChain; its stats hold one stage per filter after the input's own stages. With
`keep_rejected`, the rejected rows of shard i go to shard i of a second documents dataset, with the columns `filter`,
`reason`, `value` and `threshold`, committed through the same output lifecycle just before the main output; its
stats repeat the chain's stages, so `dataprep stats` shows the drop reasons there too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa

from dataprep.dataset.lifecycle import OutputTarget
from dataprep.dataset.manifest import Manifest
from dataprep.dataset.reader import open_dataset
from dataprep.dataset.stats import Stats
from dataprep.dataset.writer import ShardResult, ShardWriter, build_manifest
from dataprep.errors import UserError
from dataprep.filters import FilterChain, FilterConfig, rejected_schema
from dataprep.mapjob import DatasetMapJob
from dataprep.sources.records import add_document_stats


class FilterJob(DatasetMapJob):
    name = "filter"
    kind = "documents"
    input_kinds = ("documents",)

    def __init__(self, in_url: str, out_url: str, config: FilterConfig, keep_rejected: Optional[str] = None):
        source = open_dataset(in_url, kind="documents")
        self.schema = source.schema
        self.filters = config
        self.chain = FilterChain.from_config(config)  # built here: user list files are read once, on the driver
        self.keep_rejected = keep_rejected
        self.rejected = OutputTarget(keep_rejected, "--keep-rejected") if keep_rejected else None
        job_config = {"filters": config.to_data(), "keep_rejected": keep_rejected, "lists": _list_hashes(config)}
        super().__init__(in_url, out_url, job_config, source=source)

    def secondary_targets(self) -> list[OutputTarget]:
        return [self.rejected] if self.rejected is not None else []

    def rejected_writer(self) -> ShardWriter:
        return ShardWriter(self.keep_rejected, "documents", rejected_schema(self.schema), self.job_key() + ":rejected",
                           self.compression)

    def completed(self, index: int) -> Optional[ShardResult]:
        done = super().completed(index)
        if done is not None and self.rejected is not None and self.rejected_writer().completed(index) is None:
            return None
        return done

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        table = self.source.read_shard(unit["shard"])
        kept, rejected, stats = self.chain.apply(table)
        if self.rejected is not None:
            rejected_stats = Stats.from_json(stats.to_json())
            add_document_stats(rejected, rejected_stats)
            self.rejected_writer().write(unit["shard"], rejected, rejected_stats)
        add_document_stats(kept, stats)
        return kept, stats

    def secondary_manifests(self, results: list[ShardResult]) -> list[Manifest]:
        """The rejected dataset's manifest, from the receipts its shards left."""
        if self.rejected is None:
            return []
        writer = self.rejected_writer()
        rejected = []
        for index in range(len(self.units)):
            result = writer.completed(index)
            if result is None:
                raise UserError(f"rejected shard {index} of {self.keep_rejected} is missing; re-run the filter job")
            rejected.append(result)
        provenance = {**self.provenance(), "rejected_by": self.out_url}
        return [build_manifest("documents", writer.schema, rejected, provenance, history=self.history())]


def _list_hashes(config: FilterConfig) -> dict[str, Any]:
    """A user's list files change the output, so their contents enter the job's key."""
    url = config.stage("url")
    path = url.options.blocklist_file if url is not None else None
    if not path:
        return {}
    try:
        return {"blocklist_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    except FileNotFoundError:
        raise UserError(f"list file {path} does not exist") from None
