"""Same input and config, same bytes: token shards whatever the worker count, the tokenizer given its seed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dataprep import operations
from dataprep.dataset import open_dataset
from dataprep.tokenizer.sample import sample_texts
from dataprep.tokenizer.train import train_tokenizer
from tests.conftest import DATA


def test_token_shards_identical_whatever_the_workers(tok_corpus, tmp_path):
    d = DATA / "tokenizer"
    docs = str(tmp_path / "docs")
    operations.ingest([str(d / "c4_en_head80.jsonl"), str(d / "guwenguanzhi_zh_head40.jsonl")], docs)
    one, two = str(tmp_path / "t1"), str(tmp_path / "t2")
    m1, _ = operations.tokenize(docs, tok_corpus["model"], one, workers=1)
    m2, _ = operations.tokenize(docs, tok_corpus["model"], two, workers=2)
    assert len(m1.shards) == 2
    assert [s.model_dump() for s in m1.shards] == [s.model_dump() for s in m2.shards]
    # A re-submitted job reuses its complete shards.
    _, reused = operations.tokenize(docs, tok_corpus["model"], one)
    assert reused == 2


def test_tokenizer_training_is_reproducible(tok_corpus, tmp_path):
    inputs = [tok_corpus["inputs"]["en"], tok_corpus["inputs"]["zh"]]
    a = operations.train_tokenizer(inputs, str(tmp_path / "a"), 3000, sample_bytes=200_000, seed=7)
    # In this process, with another thread count: the model bytes must not change.
    b = train_tokenizer(inputs, str(tmp_path / "b"), 3000, sample_bytes=200_000, seed=7, threads=1)
    assert a["sha256"] == b["sha256"]
    assert Path(tmp_path / "a.vocab").read_bytes() == Path(tmp_path / "b.vocab").read_bytes()
    assert a["training"]["sample_bytes"] <= 200_000


def test_unigram_model_type(tok_corpus, tmp_path):
    info = operations.train_tokenizer([tok_corpus["inputs"]["en"]], str(tmp_path / "u"), 1000, model_type="unigram")
    assert info["training"]["model_type"] == "unigram" and info["special_tokens"]["<|end|>"] == 7


def test_sample_is_bounded_seeded_and_uniform(tok_corpus):
    url = tok_corpus["inputs"]["en"]
    everything = sample_texts([url], 10**9)
    total = sum(len(t.encode()) for t in everything)
    assert len(everything) == open_dataset(url).manifest.rows
    half = sample_texts([url], total // 2, seed=1)
    assert sum(len(t.encode()) for t in half) <= total // 2
    assert 0.25 * len(everything) < len(half) < 0.75 * len(everything)
    assert half == sample_texts([url], total // 2, seed=1)
    assert half != sample_texts([url], total // 2, seed=2)
    assert set(half) <= set(everything)
    digest = hashlib.sha256("".join(half).encode()).hexdigest()
    assert digest == hashlib.sha256("".join(sample_texts([url], total // 2, seed=1)).encode()).hexdigest()


def test_model_at_an_fsspec_url(tok_corpus):
    from dataprep.tokenizer.model import load_tokenizer

    info = train_tokenizer([tok_corpus["inputs"]["en"]], "memory://tok/en", 800, sample_bytes=100_000, threads=1)
    tok = load_tokenizer("memory://tok/en.model", info["sha256"])
    assert tok.info()["sha256"] == info["sha256"] and tok.decode(tok.sp.encode("Hello, 2024!")) == "Hello, 2024!"
