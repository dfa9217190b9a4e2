"""Repetition measures over a whole batch at once: token n-grams hashed with numpy, compared within each document.

Tokens arrive flat (every document's tokens one after the other) with `doc`, the document index of each token, sorted.
An n-gram is the polynomial hash of n consecutive token ids that lie in one document; its key adds the document
index, so one `np.unique` over the batch finds, per document, how often each n-gram occurs and where it first does.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0x100000001B3)
_DOC = np.uint64(0xC2B2AE3D27D4EB4F)


def mixed(ids: np.ndarray) -> np.ndarray:
    """Spread small integer ids over 64 bits so polynomial hashes of different n-grams rarely collide."""
    x = (ids.astype(np.uint64) + np.uint64(1)) * _MIX
    return x ^ (x >> np.uint64(31))


def ngram_hashes(tokens: np.ndarray, doc: np.ndarray, sizes) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each n in increasing `sizes`: (n, key of the n-gram starting at each position, positions where it fits)."""
    x = mixed(tokens)
    h = x.copy()
    built = 1
    with np.errstate(over="ignore"):
        for n in sorted(sizes):
            while built < n:
                h = h[:-1] * _BASE + x[built:]
                built += 1
            starts = np.arange(len(h))
            fits = doc[:len(h)] == doc[n - 1:n - 1 + len(h)] if len(h) else np.zeros(0, bool)
            key = h ^ ((doc[:len(h)].astype(np.uint64) + np.uint64(1)) * _DOC)
            yield n, key[fits], starts[fits]


def groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal keys grouped by one (unstable, fast) sort: the order, each group's start in it, each group's first
    position in `key`."""
    order = np.argsort(key)
    ordered = key[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    first = np.minimum.reduceat(order, starts)
    return order, starts, first


def repeated_weight(tokens, doc, weights, sizes, num_docs) -> dict[int, np.ndarray]:
    """Per n: the weight (characters) per document covered by n-grams that occurred earlier in the same document;
    overlapping repeats count each token once (Gopher's duplicated n-gram character fraction)."""
    out = {}
    for n, key, starts in ngram_hashes(tokens, doc, sizes):
        covered = np.zeros(num_docs)
        if len(key):
            repeat = np.ones(len(key), bool)
            repeat[groups(key)[2]] = False
            repeat_starts = starts[repeat]
            if len(repeat_starts):
                size = len(tokens) + 1
                depth = np.bincount(repeat_starts, minlength=size) - np.bincount(repeat_starts + n, minlength=size)
                inside = np.cumsum(depth[:-1]) > 0
                covered = np.bincount(doc, weights=weights * inside, minlength=num_docs)
        out[n] = covered
    return out


def top_ngram_weight(tokens, doc, weights, sizes, num_docs) -> dict[int, np.ndarray]:
    """Per n: per document, the characters of the most frequent n-gram times its count (Gopher's top n-gram
    character fraction); ties between equally frequent n-grams go to the longest."""
    out = {}
    cumulative = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
    for n, key, starts in ngram_hashes(tokens, doc, sizes):
        top = np.zeros(num_docs)
        if len(key):
            order, group_starts, first = groups(key)
            count = np.diff(np.append(group_starts, len(key))).astype(np.float64)
            position = starts[first]  # one occurrence of each distinct n-gram
            owner = doc[position]
            length = cumulative[position + n] - cumulative[position]
            most = np.zeros(num_docs)
            np.maximum.at(most, owner, count)
            longest = np.zeros(num_docs)
            best = count == most[owner]
            np.maximum.at(longest, owner[best], length[best])
            top = most * longest
        out[n] = top
    return out
