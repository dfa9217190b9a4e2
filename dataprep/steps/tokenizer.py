"""The tokenizer step: train sentencepiece on a bounded uniform sample of documents and dialogues datasets."""

from __future__ import annotations

from typing import Literal, Optional

from dataprep.params import Opt
from dataprep.steps.base import Step, StepContext, StepResult


class Tokenizer(Step):
    """Train a sentencepiece tokenizer (byte fallback, split digits, chat special tokens)."""

    name = "tokenizer"
    writes_dataset = False

    inputs: Optional[list[str]] = Opt(None, "documents and/or dialogues datasets to sample from.", argument=True,
                                      metavar="IN...", required_on_cli=True)
    output: Optional[str] = Opt(None, "Writes PREFIX.model, PREFIX.vocab and PREFIX.json.", flags=["-o", "--output"],
                                metavar="PREFIX", required_on_cli=True)
    vocab_size: int = Opt(32000, "Vocabulary size (at most 65,536 gives uint16 token shards).", ge=300,
                          le=1 << 20)
    model_type: Literal["bpe", "unigram"] = Opt("bpe", "sentencepiece model type.")
    sample_bytes: int = Opt(100_000_000, "Train on a uniform row sample of at most this many bytes.", ge=1)
    character_coverage: float = Opt(0.9995, "Share of characters kept as pieces (the rest become bytes).", gt=0,
                                    le=1)
    seed: int = Opt(0, "Seed of the sample (same seed and data: same model).")
    overwrite: bool = Opt(False, "Replace PREFIX.model even if this tool did not write it.")

    def chain(self, dataset, artifacts, default_output):
        update = {}
        if self.inputs is None and dataset is not None:
            update["inputs"] = [dataset]
        if self.output is None:
            update["output"] = default_output.rstrip("/") + "/tokenizer"
        return self.model_copy(update=update)

    def planned_output(self) -> Optional[str]:
        return f"{self.output}.model"

    def planned_artifacts(self) -> dict[str, str]:
        return {"tokenizer": f"{self.output}.model"}

    def job_key(self) -> str:
        """Identifies the trained model: the inputs' manifests, every parameter but the output, the code version."""
        import hashlib
        import json

        from dataprep.dataset.reader import open_dataset
        from dataprep.version import code_version

        inputs = [open_dataset(url).manifest_sha256() for url in self.inputs]
        params = self.model_dump(exclude={"inputs", "output", "overwrite"})
        blob = json.dumps({"inputs": inputs, "params": params, "version": code_version()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def finished(self) -> bool:
        from dataprep.tokenizer.train import written_by_us

        return written_by_us(self.output, self.job_key())

    def check(self, ctx: StepContext) -> None:
        from dataprep.dataset.lifecycle import check_file_output
        from dataprep.dataset.reader import open_dataset
        from dataprep.errors import UserError
        from dataprep.tokenizer.train import written_by_us

        if not self.inputs:
            raise UserError("tokenizer needs at least one input dataset")
        for url in self.inputs:
            if not ctx.exists_later(url):
                open_dataset(url, kind=("documents", "dialogues"))
        check_file_output(f"{self.output}.model", "-o", written_by_us(self.output), self.overwrite, self.inputs)

    def run(self, ctx: StepContext) -> StepResult:
        from dataprep.distributed.task import run_as_task
        from dataprep.tokenizer.train import train_tokenizer

        kwargs = dict(inputs=self.inputs, model_prefix=self.output, vocab_size=self.vocab_size,
                      model_type=self.model_type, sample_bytes=self.sample_bytes,
                      character_coverage=self.character_coverage, seed=self.seed, job_key=self.job_key())
        info = run_as_task(train_tokenizer, kwargs, num_cpus=ctx.workers)
        model = f"{self.output}.model"
        summary = (f"wrote {model} ({info['vocab_size']:,} pieces, sha256 {info['sha256'][:12]}, trained on "
                   f"{info['training']['sample_rows']:,} rows / {info['training']['sample_bytes']:,} bytes), "
                   ".vocab and .json")
        return StepResult(model, summary, artifacts={"tokenizer": model})
