"""The crawl step: seed URLs -> WARC files (OUT/warc) and a documents dataset (OUT/docs), politely and resumably."""

from __future__ import annotations

import sys
from typing import Optional

from dataprep.crawl.params import CrawlParams
from dataprep.steps.base import Step, StepContext, StepResult


class Crawl(CrawlParams, Step):
    """Crawl from seed URLs politely (robots.txt, per-host rate) into WARC files and a documents dataset; resumable."""

    name = "crawl"

    def chain(self, dataset, artifacts, default_output):
        return self if self.output else self.model_copy(update={"output": default_output})

    def planned_output(self) -> Optional[str]:
        return f"{self.output.rstrip('/')}/docs" if self.documents else None

    def check(self, ctx: StepContext) -> None:
        from dataprep.crawl.state import CrawlStore

        CrawlStore(self.out).check()

    def run(self, ctx: StepContext) -> StepResult:
        from dataprep.distributed.crawl import run_crawl

        stats = run_crawl(self, out=sys.stderr, log=ctx.log, workers=ctx.workers)
        dropped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(stats["dropped"].items(), key=lambda kv: -kv[1]))
        summary = (f"crawled {stats['pages']:,} pages ({stats['bytes']:,} bytes) of {stats['rows_in']:,} URLs seen "
                   f"into {self.output}/warc; not fetched: {dropped or 'none'}")
        docs = self.planned_output()
        return StepResult(docs or f"{self.output.rstrip('/')}/warc", summary)
