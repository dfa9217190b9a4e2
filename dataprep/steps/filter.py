"""The filter step: language ID, quality rules (English and Chinese) and PII redaction, every drop explained."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import PrivateAttr

from dataprep.params import Opt
from dataprep.steps.base import Step, StepContext, StepResult


class Filter(Step):
    """Drop low-quality and off-language documents and redact PII; every drop is counted with its reason."""

    name = "filter"

    input: Optional[str] = Opt(None, "Input documents dataset.", argument=True, metavar="IN", required_on_cli=True)
    output: Optional[str] = Opt(None, "Output documents dataset folder.", flags=["-o", "--output"], metavar="OUT",
                                required_on_cli=True)
    config: Optional[str] = Opt(None, "Filter YAML: which filters, their order, thresholds per language "
                                      "(default: the shipped config; see --print-config).", metavar="FILE")
    filters: Optional[list[Any]] = Opt(None, "The same list as a config's `filters:`, inline, merged onto the "
                                             "defaults (pipeline YAML only).", cli=False)
    keep_rejected: Optional[str] = Opt(None, "Also write the dropped documents, with filter/reason/value/threshold "
                                             "columns, to this folder.", metavar="DIR")
    url_blocklist: Optional[str] = Opt(None, "File of blocked domains and URLs, one per line (added to the url "
                                             "filter).", metavar="FILE")

    _job = PrivateAttr(default=None)

    def chain(self, dataset, artifacts, default_output):
        update = {}
        if self.input is None:
            update["input"] = dataset
        if self.output is None:
            update["output"] = default_output
        return self.model_copy(update=update)

    def filter_config(self):
        from dataprep.filters.config import load_filter_config, parse_config

        cfg = load_filter_config(self.config, self.url_blocklist)
        if self.filters is not None:
            cfg = parse_config({"filters": self.filters}, "filters", base=cfg)
        return cfg

    def job(self):
        if self._job is None:
            from dataprep.filter_job import FilterJob

            self._job = FilterJob(self.input, self.output, self.filter_config(), self.keep_rejected)
        return self._job

    def check(self, ctx: StepContext) -> None:
        from dataprep.dataset.lifecycle import OutputTarget

        cfg = self.filter_config()  # a bad config or list file is refused before any work
        if ctx.exists_later(self.input):
            targets = [OutputTarget(self.output)]
            if self.keep_rejected:
                targets.append(OutputTarget(self.keep_rejected, "--keep-rejected"))
            for t in targets:
                t.check([self.input], others=[o for o in targets if o is not t])
            return
        del cfg
        self.job().check()

    def finished(self) -> bool:
        return self.job().finished()

    def run(self, ctx: StepContext) -> StepResult:
        from dataprep.distributed.executor import run_sharded_job
        from dataprep.filters.registry import STAGES

        manifest, reused = run_sharded_job(self.job(), ctx.workers, ctx.progress)
        stages = [s for s in manifest.stats.get("stages", []) if s["name"] in STAGES]
        total = stages[0]["rows_in"] if stages else manifest.rows
        notes = f", {reused} reused from an earlier run" if reused else ""
        if self.keep_rejected:
            notes += f"; the {total - manifest.rows:,} rejected are in {self.keep_rejected}"
        summary = f"kept {manifest.rows:,} of {total:,} documents in {len(manifest.shards)} shards to {self.output}{notes}"
        return StepResult(self.output, summary, manifest, reused)
