"""The tokenize step: a documents, dialogues or preferences dataset -> uncompressed token shards."""

from __future__ import annotations

from typing import Optional

from pydantic import PrivateAttr

from dataprep.params import Opt
from dataprep.steps.base import Step, StepContext, StepResult


class Tokenize(Step):
    """Encode a dataset into uncompressed token shards (with loss masks for dialogues and preferences)."""

    name = "tokenize"

    input: Optional[str] = Opt(None, "documents, dialogues or preferences dataset.", argument=True, metavar="IN",
                               required_on_cli=True)
    tokenizer: Optional[str] = Opt(None, "PREFIX.model written by `dataprep tokenizer` (any fsspec URL); in a "
                                         "pipeline, defaults to the model of an earlier tokenizer step.",
                                   metavar="MODEL", required_on_cli=True)
    output: Optional[str] = Opt(None, "Output tokens dataset folder.", flags=["-o", "--output"], metavar="OUT",
                                required_on_cli=True)

    _job = PrivateAttr(default=None)

    def chain(self, dataset, artifacts, default_output):
        update = {}
        if self.input is None:
            update["input"] = dataset
        if self.tokenizer is None and "tokenizer" in artifacts:
            update["tokenizer"] = artifacts["tokenizer"]
        if self.output is None:
            update["output"] = default_output
        return self.model_copy(update=update)

    def job(self):
        if self._job is None:
            from dataprep.tokenize import TokenizeJob

            self._job = TokenizeJob(self.input, self.output, self.tokenizer)
        return self._job

    def check(self, ctx: StepContext) -> None:
        from dataprep.dataset.lifecycle import OutputTarget
        from dataprep.errors import UsageError

        if self.tokenizer is None:
            raise UsageError("tokenize needs `tokenizer:` (a .model URL) or an earlier `tokenizer` step")
        if ctx.exists_later(self.input) or ctx.exists_later(self.tokenizer):
            OutputTarget(self.output).check([self.input])  # the rest is checked when the inputs exist
            return
        self.job().check()

    def finished(self) -> bool:
        return self.job().finished()

    def run(self, ctx: StepContext) -> StepResult:
        from dataprep.distributed.executor import run_sharded_job

        manifest, reused = run_sharded_job(self.job(), ctx.workers, ctx.progress)
        note = f", {reused} reused from an earlier run" if reused else ""
        summary = (f"wrote {manifest.tokens:,} tokens ({manifest.rows:,} rows) in {len(manifest.shards)} shards "
                   f"to {self.output}{note}")
        return StepResult(self.output, summary, manifest, reused)
