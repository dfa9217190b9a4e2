"""The operations behind the CLI and pipeline steps. Call them inside `ray_session()`."""

from __future__ import annotations

from typing import Literal, Optional

from dataprep.dataset.manifest import Manifest
from dataprep.distributed.executor import run_sharded_job
from dataprep.ingest import IngestJob
from dataprep.pipeline import Step, StepContext, register_step
from dataprep.sources.records import MAX_DOC_CHARS


def ingest(
    sources: list[str],
    out: str,
    fmt: Optional[str] = None,
    text_split: str = "file",
    text_field: Optional[str] = None,
    max_chars: int = MAX_DOC_CHARS,
    workers: Optional[int] = None,
) -> tuple[Manifest, int]:
    job = IngestJob(sources, out, fmt=fmt, text_split=text_split, text_field=text_field, max_chars=max_chars)
    return run_sharded_job(job, workers=workers)


@register_step("ingest")
class IngestStep(Step):
    inputs: list[str]
    format: Optional[Literal["jsonl", "parquet", "text"]] = None
    text_split: Literal["file", "blank-line"] = "file"
    text_field: Optional[str] = None
    max_chars: int = MAX_DOC_CHARS

    def run(self, ctx: StepContext, out_url: str) -> str:
        manifest, skipped = ingest(
            self.inputs, out_url, self.format, self.text_split, self.text_field, self.max_chars, ctx.workers
        )
        ctx.log(f"  {manifest.rows:,} documents in {len(manifest.shards)} shards ({skipped} reused)")
        ctx.dataset = out_url
        return out_url
