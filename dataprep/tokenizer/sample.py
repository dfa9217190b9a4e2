"""A uniform random sample of a corpus's texts, bounded in bytes, whatever the corpus size.

Every row gets a seeded pseudo-random key from its dataset and id; the sample is the rows with the
smallest keys whose texts fit in the byte budget (a bottom-k sample). Keys do not depend on shard order
or count, so the sample, and the tokenizer trained on it, are reproducible. Memory holds at most the
budget plus one shard.
"""

from __future__ import annotations

import heapq
from typing import Iterator, Optional

import numpy as np
import pyarrow.compute as pc
import xxhash

from dataprep.dataset.reader import Dataset, open_dataset

MAX_TEXT_CHARS = 100_000  # one huge document must not fill the whole sample


def dataset_texts(ds: Dataset) -> Iterator[tuple[list[str], list[str]]]:
    """(ids, texts) per shard; a dialogue's text is its messages' contents, one per line."""
    for shard in ds.shards:
        if ds.kind == "documents":
            table = ds.read_shard(shard, ["id", "text"])
            yield table["id"].to_pylist(), table["text"].to_pylist()
        else:
            table = ds.read_shard(shard, ["id", "messages"])
            contents = pc.struct_field(pc.list_flatten(table["messages"]), "content").to_pylist()
            counts = pc.list_value_length(table["messages"]).to_numpy(zero_copy_only=False)
            bounds = np.concatenate([[0], np.cumsum(counts)])
            texts = ["\n".join(contents[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
            yield table["id"].to_pylist(), texts


def sample_texts(urls: list[str], budget_bytes: int, seed: int = 0) -> list[str]:
    """Texts of a seeded uniform row sample of the datasets, at most `budget_bytes` of UTF-8 in all.

    Rows are ranked by (key, hash of the text); the sample is the longest run of the smallest ranks whose texts fit
    in the budget. Once a row has been dropped to respect the budget, no row ranked at or after it can be in the
    sample (`cutoff`), so the result does not depend on the order rows arrive in, nor on how they are sharded.
    """
    heap: list[tuple[int, int, int, str]] = []  # (-key, -tie, bytes, text): the largest rank on top
    cutoff: Optional[tuple[int, int]] = None  # the smallest rank dropped so far
    total = 0
    for n, url in enumerate(urls):
        ds = open_dataset(url, kind=("documents", "dialogues"))
        for ids, texts in dataset_texts(ds):
            keys = [xxhash.xxh64_intdigest(f"{n}\x00{i}".encode(), seed=seed) for i in ids]
            for key, text in zip(keys, texts):
                if text is None or (cutoff is not None and key > cutoff[0]):
                    continue
                data = text[:MAX_TEXT_CHARS].encode("utf-8")
                rank = (key, xxhash.xxh64_intdigest(data, seed=seed))
                if cutoff is not None and rank >= cutoff:
                    continue  # a row ranked before it already did not fit
                heapq.heappush(heap, (-rank[0], -rank[1], len(data), text[:MAX_TEXT_CHARS]))
                total += len(data)
                while total > budget_bytes and heap:
                    neg_key, neg_tie, dropped, _ = heapq.heappop(heap)
                    total -= dropped
                    popped = (-neg_key, -neg_tie)
                    cutoff = popped if cutoff is None else min(cutoff, popped)
    return [text for *_, text in sorted(heap, reverse=True)]  # ascending rank: a fixed order


def training_sentences(texts: list[str], max_chars: int = 4096) -> Iterator[str]:
    """Non-blank lines, cut to `max_chars` (sentencepiece skips sentences over its byte limit)."""
    for text in texts:
        for line in text.split("\n"):
            if not line.strip():
                continue
            for start in range(0, len(line), max_chars):
                yield line[start : start + max_chars]
