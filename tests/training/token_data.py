"""Token datasets for tests and benchmarks, made by the real dataprep code in this process (no Ray).

`dataprep tokenizer` trains the sentencepiece model (dataprep.tokenizer.train) and `dataprep tokenize` encodes
(dataprep.tokenize.TokenizeJob, the chat template for dialogues and preferences); only the scheduling differs:
the job's units run here one after the other and the manifest is committed as the Ray executor commits it.
So the contract between real token shards and the trainer is what the tests exercise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pyarrow as pa

from dataprep.dataset import write_dataset
from dataprep.dataset.manifest import Manifest
from dataprep.dataset.schemas import DOCUMENTS
from dataprep.shardjob import ShardJob, run_in_process


def split_documents(text: str) -> list[str]:
    """Paragraphs (blank-line separated) as documents."""
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def run_job_here(job: ShardJob) -> Manifest:
    """A ShardJob's units in this process, then its manifest (what dataprep.distributed.executor does on Ray)."""
    return run_in_process(job)[0]


def write_documents(url: str | Path, texts: Sequence[str], num_shards: int = 1, source: str = "test") -> str:
    """A documents dataset of `num_shards` shards (ids doc-0000000...)."""
    bounds = [round(i * len(texts) / num_shards) for i in range(num_shards + 1)]
    tables = []
    for s in range(num_shards):
        ids = range(bounds[s], bounds[s + 1])
        tables.append(pa.table({
            "id": [f"doc-{i:07d}" for i in ids], "text": [texts[i] for i in ids], "source": [source] * len(ids),
            "url": [None] * len(ids), "lang": ["en"] * len(ids), "meta": ["{}"] * len(ids),
        }, schema=DOCUMENTS))
    write_dataset(str(url), "documents", tables, schema=DOCUMENTS)
    return str(url)


def ingest_chat(sources: Sequence[str], url: str | Path, fmt: str) -> str:
    """`dataprep ingest --format dialogue|preference`, here."""
    from dataprep.ingest import IngestJob
    from dataprep.steps import Ingest

    run_job_here(IngestJob(Ingest(inputs=[str(s) for s in sources], format=fmt), str(url)))
    return str(url)


def train_tokenizer(inputs: Sequence[str], prefix: str | Path, vocab_size: int, **options) -> str:
    """`dataprep tokenizer`, here; returns the .model path."""
    from dataprep.tokenizer.train import train_tokenizer as train

    train([str(i) for i in inputs], str(prefix), vocab_size, threads=1, **options)
    return f"{prefix}.model"


def tokenize(in_url: str | Path, tokenizer: str | Path, out_url: str | Path) -> str:
    """`dataprep tokenize`, here: one token shard per input shard."""
    from dataprep.tokenize import TokenizeJob

    run_job_here(TokenizeJob(str(in_url), str(out_url), str(tokenizer)))
    return str(out_url)
