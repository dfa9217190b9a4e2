"""The ingest step: raw files (any format of the source table) -> a documents, dialogues or preferences dataset."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import PrivateAttr, create_model

from dataprep.params import Opt
from dataprep.sources.records import MAX_DOC_CHARS
from dataprep.sources.table import SOURCES
from dataprep.steps.base import Step, StepContext, StepResult

FORMATS = Literal[tuple(SOURCES)]  # type: ignore[valid-type]


class IngestStep(Step):
    name = "ingest"

    inputs: list[str] = Opt(..., "Files, folders or globs (any fsspec URL).", argument=True, metavar="SRC...")
    output: Optional[str] = Opt(None, "Output dataset folder.", flags=["-o", "--output"], metavar="OUT",
                                required_on_cli=True)
    format: Optional[FORMATS] = Opt(None, "Input format (default: from each file's suffix).")
    max_chars: int = Opt(MAX_DOC_CHARS, "Longer records are skipped as too_large.", ge=1)
    strict: bool = Opt(False, "Stop at the first unreadable or mislabelled file instead of skipping it.")

    _job = PrivateAttr(default=None)

    def chain(self, dataset, artifacts, default_output):
        return self if self.output else self.model_copy(update={"output": default_output})

    def job(self):
        """The planned job (inputs expanded and probed, units cut): built once, in the driver."""
        if self._job is None:
            from dataprep.ingest import IngestJob

            self._job = IngestJob(self, self.output)
        return self._job

    def check(self, ctx: StepContext) -> None:
        self.job().check()

    def finished(self) -> bool:
        return self.job().finished()

    def run(self, ctx: StepContext) -> StepResult:
        from dataprep.distributed.executor import run_sharded_job

        job = self.job()
        manifest, reused = run_sharded_job(job, ctx.workers, ctx.progress)
        stage = manifest.stats["stages"][-1] if manifest.stats.get("stages") else {"dropped": {}}
        bad = sum(stage["dropped"].values())
        files = dict(manifest.stats.get("files", {}))
        damaged = files.pop("truncated_file", None)
        skipped = sum(e["count"] for e in files.values())
        notes = [f"{bad:,} records skipped as bad"]
        if skipped:
            reasons = ", ".join(f"{e['count']} {r}" for r, e in sorted(files.items()))
            notes.append(f"{skipped} files skipped ({reasons}; names in `dataprep stats`)")
        if damaged:
            shown = "; ".join(damaged["names"][:3]) + ("; ..." if damaged["count"] > 3 else "")
            notes.append(f"{damaged['count']} damaged files read up to the damage: {shown}")
        if reused:
            notes.append(f"{reused} shards reused from an earlier run")
        summary = (f"wrote {manifest.rows:,} {manifest.kind} in {len(manifest.shards)} shards to {self.output} "
                   f"({'; '.join(notes)})")
        return StepResult(self.output, summary, manifest, reused)


def _compose():
    """The ingest step's model: its own fields plus every source's options (each declared once, in its source)."""
    options = []
    for source in SOURCES.values():
        if source.options is not None and source.options not in options:
            options.append(source.options)
    # The options come first among the bases so that the step's own fields come first in --help.
    return create_model("Ingest", __base__=(*options, IngestStep), __module__=__name__,
                        __doc__="Read raw files into a dataset (bad records and files are counted and skipped).")


Ingest = _compose()
