"""The dedup step: exact and MinHash near-duplicate removal, keeping the smallest id of each cluster."""

from __future__ import annotations

from typing import Optional

from dataprep.params import Opt
from dataprep.steps.base import Step, StepContext, StepResult


class Dedup(Step):
    """Remove exact and MinHash near-duplicates, keeping the smallest id of each cluster."""

    name = "dedup"

    input: Optional[str] = Opt(None, "Input documents dataset.", argument=True, metavar="IN", required_on_cli=True)
    output: Optional[str] = Opt(None, "Output documents dataset folder.", flags=["-o", "--output"], metavar="OUT",
                                required_on_cli=True)
    threshold: float = Opt(0.8, "Estimated Jaccard similarity that makes a near-duplicate.", gt=0, lt=1)
    num_perm: int = Opt(128, "MinHash permutations (bands x rows are derived from them).", ge=2, le=4096)
    ngram: int = Opt(5, "Tokens per shingle: words, or single Han/Kana/Hangul characters.", ge=1, le=64)
    exact: bool = Opt(True, "Also remove exact duplicates of the normalized text (reported apart).")
    verify: bool = Opt(False, "Drop candidate pairs whose signature Jaccard is below --threshold.")
    keep_clusters: Optional[str] = Opt(None, "Also write a `clusters` dataset (id, cluster_id, kept) to this folder.",
                                       metavar="DIR")

    def chain(self, dataset, artifacts, default_output):
        update = {}
        if self.input is None:
            update["input"] = dataset
        if self.output is None:
            update["output"] = default_output
        return self.model_copy(update=update)

    def check(self, ctx: StepContext) -> None:
        from dataprep.dataset.reader import open_dataset
        from dataprep.errors import UserError

        if self.input is None:
            raise UserError("dedup needs an input dataset")
        if not ctx.exists_later(self.input):
            ds = open_dataset(self.input, kind="documents")
            if not {"id", "text"} <= set(ds.schema.names):
                raise UserError(f"{self.input} has no id/text columns; dedup needs a documents dataset")
        from dataprep.dedup.job import dedup_targets

        dedup_targets(self.input, self.output, self.keep_clusters)

    def algorithm(self):
        from dataprep.dedup.params import DedupParams

        return DedupParams(threshold=self.threshold, num_perm=self.num_perm, ngram=self.ngram, exact=self.exact,
                           verify=self.verify)

    def finished(self) -> bool:
        from dataprep.dataset.reader import open_dataset
        from dataprep.dedup.job import dedup_job_key
        from dataprep.shardjob import committed_job_key

        key = dedup_job_key(open_dataset(self.input, kind="documents"), self.algorithm())
        outputs = [self.output] + ([self.keep_clusters] if self.keep_clusters else [])
        return committed_job_key(self.output) == key and all(committed_job_key(o) is not None for o in outputs)

    def run(self, ctx: StepContext) -> StepResult:
        from dataprep.distributed.dedup import run_dedup

        summary = run_dedup(self.input, self.output, self.algorithm(), workers=ctx.workers,
                            keep_clusters=self.keep_clusters, progress=ctx.progress)
        s = summary.stats
        reused = f", {summary.skipped} shards reused from an earlier run" if summary.skipped else ""
        line = (f"wrote {s['documents_out']:,} of {s['documents_in']:,} documents in {len(summary.manifest.shards)} "
                f"shards to {self.output}: {s['exact_removed']:,} exact and {s['near_removed']:,} near duplicates "
                f"removed (bands {s['bands']} x rows {s['rows']}, {s['clusters']:,} clusters){reused}")
        return StepResult(self.output, line, summary.manifest, summary.skipped)
