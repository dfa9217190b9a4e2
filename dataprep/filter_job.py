"""`dataprep filter`: a documents dataset -> a documents dataset, input shard i -> output shard i (like TokenizeJob).

Each shard goes through the FilterChain; its stats hold one stage per filter after the input's own stages. With
`keep_rejected`, the rejected rows of shard i go to shard i of a second documents dataset, with the columns `filter`,
`reason`, `value` and `threshold`, whose manifest the driver commits after the job (`commit_rejected`) from the
shards' receipts; its stats repeat the chain's stages, so `dataprep stats` shows the drop reasons there too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa

from dataprep.dataset.manifest import Manifest
from dataprep.dataset.reader import open_dataset
from dataprep.dataset.stats import StageCount, Stats
from dataprep.dataset.writer import ShardResult, ShardWriter, commit_manifest, refuse_same_folder, uncommit
from dataprep.errors import UserError
from dataprep.filters import FilterChain, FilterConfig, rejected_schema
from dataprep.shardjob import ShardJob
from dataprep.sources.records import add_document_stats


class FilterJob(ShardJob):
    name = "filter"
    kind = "documents"

    def __init__(self, in_url: str, out_url: str, config: FilterConfig, keep_rejected: Optional[str] = None):
        self.source = open_dataset(in_url, kind="documents")
        self.schema = self.source.schema
        self.filters = config
        self.chain = FilterChain.from_config(config)  # built here: user list files are read once, on the driver
        self.keep_rejected = keep_rejected
        units = [{"shard": i, "sha256": s.sha256} for i, s in enumerate(self.source.shards)]
        job_config = {"filters": config.to_data(), "keep_rejected": keep_rejected, "lists": _list_hashes(config)}
        inputs = [{"url": self.source.url, "manifest_sha256": self.source.manifest_sha256()}]
        super().__init__(out_url, units, job_config, inputs)
        if keep_rejected is not None:
            refuse_same_folder(keep_rejected, [self.source.url, out_url])

    def history(self) -> list[StageCount]:
        return Stats.from_json(self.source.manifest.stats).stages

    def rejected_writer(self) -> ShardWriter:
        return ShardWriter(self.keep_rejected, "documents", rejected_schema(self.schema), self.job_key() + ":rejected",
                           self.compression)

    def run_unit(self, index: int) -> ShardResult:
        writer = self.writer()
        done = writer.completed(index)
        if done is not None and (self.keep_rejected is None or self.rejected_writer().completed(index) is not None):
            return done
        table, stats = self.process(self.units[index])
        return writer.write(index, table, stats)

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        table = self.source.read_shard(unit["shard"])
        kept, rejected, stats = self.chain.apply(table)
        if self.keep_rejected is not None:
            rejected_stats = Stats.from_json(stats.to_json())
            add_document_stats(rejected, rejected_stats)
            self.rejected_writer().write(unit["shard"], rejected, rejected_stats)
        add_document_stats(kept, stats)
        return kept, stats

    def prepare_rejected(self) -> None:
        """Before the job: the rejected folder loses any old manifest (it is rewritten)."""
        if self.keep_rejected is not None:
            uncommit(self.keep_rejected)

    def commit_rejected(self) -> Optional[Manifest]:
        """After the job: the rejected dataset's manifest, from the receipts its shards left."""
        if self.keep_rejected is None:
            return None
        writer = self.rejected_writer()
        results = []
        for index in range(len(self.units)):
            result = writer.completed(index)
            if result is None:
                raise UserError(f"rejected shard {index} of {self.keep_rejected} is missing; re-run the filter job")
            results.append(result)
        provenance = {**self.provenance(), "rejected_by": self.out_url}
        return commit_manifest(self.keep_rejected, "documents", writer.schema, results, provenance,
                               history=self.history())


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
