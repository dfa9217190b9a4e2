"""The operations behind the CLI and pipeline steps. Call them inside `ray_session()`."""

from __future__ import annotations

from typing import Literal, Optional

from dataprep.dataset.manifest import Manifest
from dataprep.distributed.executor import run_sharded_job
from dataprep.ingest import IngestJob
from dataprep.errors import UserError
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
    extractor: Optional[str] = None,
) -> tuple[Manifest, int]:
    if fmt in ("dialogue", "preference"):
        from dataprep.ingest_chat import ChatIngestJob

        job = ChatIngestJob(sources, out, fmt, max_chars=max_chars)
    else:
        web = {"extractor": extractor} if extractor else {}
        job = IngestJob(sources, out, fmt=fmt, text_split=text_split, text_field=text_field, max_chars=max_chars, **web)
    return run_sharded_job(job, workers=workers)


def dedup(
    src: str,
    out: str,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    exact: bool = True,
    verify: bool = False,
    keep_clusters: Optional[str] = None,
    workers: Optional[int] = None,
):
    """Exact + MinHash near-duplicate removal; returns a DedupSummary (manifest, reused shards, counts)."""
    from dataprep.dedup.params import DedupParams
    from dataprep.distributed.dedup import run_dedup

    params = DedupParams(threshold=threshold, num_perm=num_perm, ngram=ngram, exact=exact, verify=verify)
    return run_dedup(src, out, params, workers=workers, keep_clusters=keep_clusters)


@register_step("dedup")
class DedupStep(Step):
    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 5
    exact: bool = True
    verify: bool = False
    keep_clusters: Optional[str] = None

    def run(self, ctx: StepContext, out_url: str) -> str:
        summary = dedup(self.input_url(ctx), out_url, self.threshold, self.num_perm, self.ngram, self.exact,
                        self.verify, self.keep_clusters, ctx.workers)
        s = summary.stats
        ctx.log(f"  {s['documents_out']:,} of {s['documents_in']:,} documents kept "
                f"({s['exact_removed']:,} exact, {s['near_removed']:,} near duplicates removed)")
        ctx.dataset = out_url
        return out_url


@register_step("ingest")
class IngestStep(Step):
    inputs: list[str]
    format: Optional[Literal["jsonl", "parquet", "text", "warc", "wet", "html", "dialogue", "preference"]] = None
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


def train_tokenizer(
    inputs: list[str],
    model_prefix: str,
    vocab_size: int,
    model_type: str = "bpe",
    sample_bytes: int = 100_000_000,
    character_coverage: float = 0.9995,
    seed: int = 0,
    workers: Optional[int] = None,
) -> dict:
    """Train sentencepiece as one Ray task with `workers` threads; return the tokenizer description."""
    from dataprep.distributed.task import run_as_task
    from dataprep.tokenizer.train import train_tokenizer as train

    kwargs = dict(inputs=inputs, model_prefix=model_prefix, vocab_size=vocab_size, model_type=model_type,
                  sample_bytes=sample_bytes, character_coverage=character_coverage, seed=seed)
    return run_as_task(train, kwargs, num_cpus=workers)


def tokenize(in_url: str, tokenizer: str, out: str, workers: Optional[int] = None) -> tuple[Manifest, int]:
    from dataprep.tokenize import TokenizeJob

    return run_sharded_job(TokenizeJob(in_url, out, tokenizer), workers=workers)


@register_step("tokenizer")
class TokenizerStep(Step):
    """Trains on `inputs` (default: the latest dataset); leaves ctx.dataset alone for the tokenize step."""

    inputs: Optional[list[str]] = None
    vocab_size: int = 32000
    model_type: Literal["bpe", "unigram"] = "bpe"
    sample_bytes: int = 100_000_000
    character_coverage: float = 0.9995
    seed: int = 0

    def run(self, ctx: StepContext, out_url: str) -> str:
        inputs = self.inputs or [self.input_url(ctx)]
        prefix = out_url.rstrip("/") + "/tokenizer"
        info = train_tokenizer(inputs, prefix, self.vocab_size, self.model_type, self.sample_bytes,
                               self.character_coverage, self.seed)
        ctx.log(f"  tokenizer {prefix}.model: vocab {info['vocab_size']:,}, sha256 {info['sha256'][:12]}")
        ctx.artifacts["tokenizer"] = prefix + ".model"
        return prefix + ".model"


@register_step("tokenize")
class TokenizeStep(Step):
    tokenizer: Optional[str] = None  # default: the model of an earlier `tokenizer` step

    def run(self, ctx: StepContext, out_url: str) -> str:
        model = self.tokenizer or ctx.artifacts.get("tokenizer")
        if model is None:
            raise UserError("step 'tokenize' needs `tokenizer:` (a .model URL) or an earlier `tokenizer` step")
        manifest, skipped = tokenize(self.input_url(ctx), model, out_url, ctx.workers)
        ctx.log(f"  {manifest.tokens:,} tokens in {len(manifest.shards)} shards ({skipped} reused)")
        ctx.dataset = out_url
        return out_url
