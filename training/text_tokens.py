"""Small tokens datasets straight from plain text, for tests, demos and benchmarks.

The pipeline's `dataprep tokenizer` / `dataprep tokenize` stages do this at scale on Ray; this helper
writes the same dataset contract (documents ending in end-of-text, tokenizer provenance) in one process.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa

from dataprep.dataset import tokens_schema, write_dataset


def split_documents(text: str) -> list[str]:
    """Paragraphs (blank-line separated) as documents."""
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def train_sentencepiece(texts: Iterable[str], vocab_size: int) -> bytes:
    """A BPE sentencepiece model (bytes) with fixed ids: unk 0, bos 1, eos 2 (end-of-text), pad 3."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        byte_fallback=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def tokenizer_provenance(model: bytes) -> dict:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model)
    return {
        "sha256": hashlib.sha256(model).hexdigest(),
        "vocab_size": sp.get_piece_size(),
        "special_tokens": {"<|endoftext|>": sp.eos_id(), "<|bos|>": sp.bos_id(), "<|pad|>": sp.pad_id()},
        "eos_id": sp.eos_id(),
        "pad_id": sp.pad_id(),
    }


def write_text_tokens(url: str | Path, documents: Sequence[str], model: bytes, num_shards: int = 1) -> dict:
    """Tokenize `documents` (each followed by end-of-text) into a tokens dataset of `num_shards` shards."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model)
    provenance = {"tokenizer": tokenizer_provenance(model)}
    eos = sp.eos_id()
    ids = [np.asarray(doc + [eos], dtype=np.uint16) for doc in sp.encode(list(documents))]
    schema = tokens_schema(sp.get_piece_size())
    bounds = np.linspace(0, len(ids), num_shards + 1).astype(int)
    tables = []
    for s in range(num_shards):
        part = ids[bounds[s] : bounds[s + 1]]
        tables.append(
            pa.table(
                {
                    "id": pa.array([f"doc-{i:07d}" for i in range(bounds[s], bounds[s + 1])], pa.string()),
                    "tokens": pa.array(part, type=schema.field("tokens").type),
                },
                schema=schema,
            )
        )
    write_dataset(str(url), "tokens", tables, schema=schema, provenance=provenance, compression=None)
    return provenance["tokenizer"]
