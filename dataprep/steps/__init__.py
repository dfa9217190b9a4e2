"""The table of stages: what a pipeline YAML may name, and what the CLI builds commands from.

Explicit on purpose: no registration by import side effect, so validating a pipeline needs nothing else
imported first. A new stage is a new module here plus one line in STEPS.
"""

from __future__ import annotations

from dataprep.steps.base import Step, StepContext, StepResult
from dataprep.steps.crawl import Crawl
from dataprep.steps.dedup import Dedup
from dataprep.steps.filter import Filter
from dataprep.steps.ingest import Ingest
from dataprep.steps.tokenize import Tokenize
from dataprep.steps.tokenizer import Tokenizer

STEPS: dict[str, type[Step]] = {
    "crawl": Crawl,
    "ingest": Ingest,
    "filter": Filter,
    "dedup": Dedup,
    "tokenizer": Tokenizer,
    "tokenize": Tokenize,
}



def execute(step: Step, workers: int | None = None, progress: bool = False) -> StepResult:
    """Check and run one step in this process's Ray session (the programmatic twin of its command)."""
    from dataprep.distributed.runtime import ray_session

    ctx = StepContext(workers=workers, progress=progress, log=lambda line: None)
    step.check(ctx)
    with ray_session():
        return step.run(ctx)


__all__ = ["STEPS", "Step", "StepContext", "StepResult", "Crawl", "Ingest", "Filter", "Dedup", "Tokenizer", "Tokenize", "execute"]
