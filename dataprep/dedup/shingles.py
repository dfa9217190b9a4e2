"""Tokens and n-gram shingle hashes of normalized text, for whole batches at once.

Tokens are whitespace-separated words, except that every Han, Hiragana, Katakana and Hangul character
is a token of its own: unspaced CJK text thus gets character n-grams while spaced scripts get word
n-grams, and mixed text gets both (text-dedup's bug was making a whole Chinese sentence one "word").
Each distinct token is hashed once (xxh3-64); an n-gram's hash is a polynomial of its tokens' hashes
mod 2^64, computed with n vectorized passes over the flat token array. A document shorter than n tokens
has one shingle (all its tokens), so short texts still get a signature; an empty one has none.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

_CJK = r"([\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}])"
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier (golden ratio): mixes positions into the n-gram hash


def tokenize(normalized: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Flat token array and per-document offsets (len = docs + 1) of normalized texts."""
    spaced = pc.replace_substring_regex(normalized, _CJK, r" \1 ")
    lists = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(spaced))
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    lists = lists.cast(pa.large_list(pa.large_string()))
    offsets = np.asarray(lists.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    offsets = offsets - offsets[0]
    return lists.flatten(), offsets


def token_hashes(tokens: pa.Array) -> np.ndarray:
    """xxh3-64 of each token, hashing each distinct token only once."""
    if len(tokens) == 0:
        return np.zeros(0, dtype=np.uint64)
    encoded = pc.dictionary_encode(tokens)
    words = encoded.dictionary.to_pylist()
    h = xxhash.xxh3_64_intdigest
    table = np.fromiter((h(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
    return table[encoded.indices.to_numpy(zero_copy_only=False)]


def shingle_hashes(hashes: np.ndarray, offsets: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of each document's token n-grams, and per-document offsets into them."""
    lengths = np.diff(offsets)
    counts = np.where(lengths > 0, np.maximum(lengths - ngram + 1, 1), 0)
    shingle_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=shingle_offsets[1:])
    total = int(shingle_offsets[-1])
    doc = np.repeat(np.arange(len(counts)), counts)
    starts = offsets[:-1][doc] + (np.arange(total, dtype=np.int64) - shingle_offsets[:-1][doc])
    ends = offsets[1:][doc]
    padded = np.concatenate([hashes.astype(np.uint64, copy=False), np.zeros(ngram, dtype=np.uint64)])
    acc = padded[starts].copy()
    with np.errstate(over="ignore"):
        for k in range(1, ngram):
            idx = starts + k
            # Positions past the document's end contribute 0: a short document is one shingle of all it has.
            term = np.where(idx < ends, padded[idx], np.uint64(0))
            acc *= _POLY
            acc += term
    return acc, shingle_offsets


def document_shingles(texts: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Normalize, tokenize and shingle a batch: (shingle hashes, offsets per document, normalized texts)."""
    from dataprep.dedup.normalize import normalize

    normalized = normalize(texts)
    tokens, offsets = tokenize(normalized)
    shingles, shingle_offsets = shingle_hashes(token_hashes(tokens), offsets, ngram)
    return shingles, shingle_offsets, normalized
