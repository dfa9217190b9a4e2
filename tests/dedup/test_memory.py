"""Memory stays bounded per task when the corpus grows 10x, because shuffle partitions grow with it."""

from __future__ import annotations

import random
import re

from dataprep.dedup.params import DedupParams
from dataprep.distributed.dedup import run_dedup
from tests.dedup.corpus import chinese, english, sohu_pairs, write_docs

SHARD_ROWS = 5000
GLOBAL_LAYERS = ("band", "exact", "components", "attach", "choose")


def sentences() -> list[tuple[str, str]]:
    """Short real documents: the sentences of the English and Chinese test texts, and the Sohu titles."""
    out = []
    for doc_id, text in english():
        out += [(f"{doc_id}-{i}", s) for i, s in enumerate(re.split(r"(?<=[.!?])\s+", text)) if len(s) > 20]
    for doc_id, text in chinese():
        out += [(f"{doc_id}-{i}", s) for i, s in enumerate(re.split(r"(?<=[。！？])", text)) if len(s) > 8]
    out += [(f"sohu-{i}", r["sentence1"]) for i, r in enumerate(sohu_pairs())]
    return out


def corpus(copies: int) -> list[tuple[str, str]]:
    """`copies` x the real sentences: each further copy has every sentence's words (or characters) shuffled, so it
    is a new document with the same vocabulary; 1 in 20 documents gets a near-duplicate."""
    base = sentences()
    rng = random.Random(7)
    docs = []
    for k in range(copies):
        for doc_id, text in base:
            if k:
                spaced = " " in text
                parts = text.split() if spaced else list(text)
                rng.shuffle(parts)
                text = (" " if spaced else "").join(parts)
            docs.append((f"{k:02d}-{doc_id}", text))
    docs += [(f"zz-{d[0]}", d[1] + " (copy)") for d in docs[::20]]
    return docs


def _largest(summary, key: str) -> float:
    return max(summary.memory[layer][key] for layer in GLOBAL_LAYERS)


def test_memory_per_task_is_flat_when_corpus_grows_10x(ray_local, tmp_path):
    small, large = corpus(1), corpus(10)
    assert len(small) > 4000 and len(large) >= 9.5 * len(small)
    src_small = write_docs(tmp_path / "small", small, shards=-(-len(small) // SHARD_ROWS))
    src_large = write_docs(tmp_path / "large", large, shards=-(-len(large) // SHARD_ROWS))
    params = DedupParams()
    run_dedup(src_small, str(tmp_path / "warm"), params, rows_per_partition=SHARD_ROWS)  # first-use allocations
    s = run_dedup(src_small, str(tmp_path / "out-small"), params, rows_per_partition=SHARD_ROWS)
    l = run_dedup(src_large, str(tmp_path / "out-large"), params, rows_per_partition=SHARD_ROWS)
    # Control: the same 10x corpus squeezed into the small run's partition count holds ~10x more per task.
    fixed = run_dedup(src_large, str(tmp_path / "out-fixed"), params, partitions=s.stats["partitions"])
    assert l.stats["partitions"] >= 5 * s.stats["partitions"]
    assert l.stats["near_removed"] + l.stats["exact_removed"] >= len(large) // 21
    # Bytes of shuffled data one task holds (exact) and its measured working set (RSS growth + inputs).
    assert _largest(l, "input_mb") < 2 * _largest(s, "input_mb")
    assert _largest(fixed, "input_mb") > 5 * _largest(s, "input_mb")
    assert _largest(l, "work_mb") < 2 * _largest(s, "work_mb") + 4, (s.memory, l.memory)
    assert _largest(fixed, "work_mb") > 3 * _largest(s, "work_mb"), (s.memory, fixed.memory)
    # One task per input shard of fixed size: flat by construction. RSS growth of a reused worker is noisy (an
    # allocator may reuse a heap grown by an earlier test), so this bound is loose: 10x growth would still fail it.
    for layer in ("sign", "write"):
        assert l.memory[layer]["work_mb"] < 1.5 * s.memory[layer]["work_mb"] + 32
