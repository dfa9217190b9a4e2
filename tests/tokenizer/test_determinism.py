"""Same input and config, same bytes: token shards whatever the worker count, the tokenizer given its seed."""

from __future__ import annotations

from pathlib import Path

from dataprep.dataset import open_dataset
from dataprep.tokenizer.sample import sample_texts
from dataprep.tokenizer.train import train_tokenizer as train_in_process
from tests.conftest import DATA, ingest, tokenize, train_tokenizer


def test_token_shards_identical_whatever_the_workers(tok_corpus, tmp_path):
    d = DATA / "tokenizer"
    docs = str(tmp_path / "docs")
    ingest([str(d / "c4_en_head80.jsonl"), str(d / "guwenguanzhi_zh_head40.jsonl")], docs)
    one, two = str(tmp_path / "t1"), str(tmp_path / "t2")
    m1, _ = tokenize(docs, tok_corpus["model"], one, workers=1)
    m2, _ = tokenize(docs, tok_corpus["model"], two, workers=2)
    assert len(m1.shards) == 2
    assert [s.model_dump() for s in m1.shards] == [s.model_dump() for s in m2.shards]
    # A re-submitted job reuses its complete shards.
    _, reused = tokenize(docs, tok_corpus["model"], one)
    assert reused == 2


def test_tokenizer_training_is_reproducible(tok_corpus, tmp_path):
    inputs = [tok_corpus["inputs"]["en"], tok_corpus["inputs"]["zh"]]
    a = train_tokenizer(inputs, str(tmp_path / "a"), 3000, sample_bytes=200_000, seed=7)
    # In this process, with another thread count: the model bytes must not change.
    b = train_in_process(inputs, str(tmp_path / "b"), 3000, sample_bytes=200_000, seed=7, threads=1)
    assert a["sha256"] == b["sha256"]
    assert Path(tmp_path / "a.vocab").read_bytes() == Path(tmp_path / "b.vocab").read_bytes()
    assert a["training"]["sample_bytes"] <= 200_000


def test_unigram_model_type(tok_corpus, tmp_path):
    info = train_tokenizer([tok_corpus["inputs"]["en"]], str(tmp_path / "u"), 1000, model_type="unigram")
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



def test_sample_does_not_depend_on_row_order_or_shards(tok_corpus, tmp_path):
    """The sample is exactly the smallest-key rows that fit, whatever order and shard layout the rows come in."""
    import random

    import xxhash

    from dataprep.dataset import DOCUMENTS, write_dataset
    from tests.dedup.corpus import documents_table

    table = open_dataset(tok_corpus["inputs"]["en"]).to_table(["id", "text"])
    docs = list(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    total = sum(len(t.encode()) for _, t in docs)
    rng = random.Random(0)
    layouts = []
    for k, shards in enumerate([1, 3, 7, 2, 5, 4]):
        rows = sorted(docs) if k == 0 else list(reversed(sorted(docs))) if k == 1 else rng.sample(docs, len(docs))
        size = -(-len(rows) // shards)
        url = str(tmp_path / f"layout-{k}")
        write_dataset(url, "documents", [documents_table(rows[i : i + size]) for i in range(0, len(rows), size)],
                      schema=DOCUMENTS)
        layouts.append(url)
    for budget in [total // 2, total // 3, total // 7, 20_000]:
        by_key = sorted(docs, key=lambda d: xxhash.xxh64_intdigest(f"0\x00{d[0]}".encode(), seed=3))
        expected, used = [], 0
        for _, text in by_key:  # the longest run of smallest keys that fits
            if used + len(text.encode()) > budget:
                break
            expected.append(text)
            used += len(text.encode())
        for url in layouts:
            assert sample_texts([url], budget, seed=3) == expected, (url, budget)

def test_model_at_an_fsspec_url(tok_corpus):
    from dataprep.tokenizer.model import load_tokenizer

    info = train_in_process([tok_corpus["inputs"]["en"]], "memory://tok/en", 800, sample_bytes=100_000, threads=1)
    tok = load_tokenizer("memory://tok/en.model", info["sha256"])
    assert tok.info()["sha256"] == info["sha256"] and tok.decode(tok.sp.encode("Hello, 2024!")) == "Hello, 2024!"


def test_tokenizer_workers_beyond_the_largest_node_do_not_hang(tok_corpus, tmp_path):
    """`--workers 64` on the 2-CPU test Ray: capped at the largest node's CPUs instead of waiting forever."""
    from dataprep.distributed.task import run_as_task

    assert _within(60, run_as_task, _threads, {}, 64) == 2
    info = _within(300, train_tokenizer, [tok_corpus["inputs"]["en"]], str(tmp_path / "w"), 800,
                   sample_bytes=50_000, workers=64)
    assert info["training"]["sample_bytes"] <= 50_000


def _within(seconds: float, fn, *args, **kwargs):
    """fn(*args, **kwargs) on a daemon thread: a failure, not a hung test run, if it takes over `seconds`."""
    import threading

    out: dict = {}

    def call():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} still waiting after {seconds}s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _threads(threads: int) -> int:
    return threads
