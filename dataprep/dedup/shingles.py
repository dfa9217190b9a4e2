"""Tokens, token hashes and n-gram shingle hashes for a whole batch of texts at once.

A batch is decoded once into one flat UTF-32 codepoint array; normalization (`normalize.fold`) and
tokenization are then numpy passes over it. Tokens are runs of word characters, except that every Han,
Hiragana, Katakana and Hangul character is a token of its own: unspaced CJK text gets character n-grams,
spaced scripts word n-grams, mixed text both (text-dedup's bug was making a whole Chinese sentence one word).

A token's hash is a polynomial of its folded codepoints mod 2^64 (from one prefix sum), finished with the
MurmurHash3 64-bit finalizer; an n-gram's hash is a polynomial of its tokens' hashes (n vectorized passes).
A document shorter than n tokens has one shingle made of all its tokens; an empty one has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.dedup.normalize import CJK, WORD, fold

_CHAR_MUL = np.uint64(0x100000001B3)  # FNV prime: odd, spreads codepoints over the 64-bit word
_NGRAM_MUL = np.uint64(0x9E3779B97F4A7C15)  # golden ratio, odd
_DOC_MUL = np.uint64(0xC2B2AE3D27D4EB4F)  # second multiplier for document hashes (exact dedup)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: an avalanching bijection."""
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _powers(multiplier: np.uint64, n: int) -> np.ndarray:
    """multiplier**0 .. multiplier**(n-1) mod 2^64."""
    out = np.full(max(n, 1), multiplier, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        return np.multiply.accumulate(out)


_POWER_CACHE: dict[str, np.ndarray] = {}


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """K^i and K^-i mod 2^64 for i < n (at least), kept per process and grown by doubling."""
    have = _POWER_CACHE.get("powers")
    if have is None or len(have) < n:
        size = 1 << max(16, (max(n, 1) - 1).bit_length())
        _POWER_CACHE["powers"] = _powers(_CHAR_MUL, size)
        _POWER_CACHE["inverse"] = _powers(np.uint64(pow(int(_CHAR_MUL), -1, 1 << 64)), size)
    return _POWER_CACHE["powers"], _POWER_CACHE["inverse"]


def _segment_positions(starts: np.ndarray, total: int) -> np.ndarray:
    """For every element of a sequence cut at `starts` (sorted, starts[0] == 0), its position in its segment."""
    seg = np.zeros(total, dtype=np.int64)
    if total == 0:
        return seg
    lengths = np.diff(np.append(starts, total))
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


def codepoints(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """One uint32 array of every codepoint of `texts` and per-text offsets into it (nulls are empty)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    lengths = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # One decode of the batch's contiguous UTF-8 buffer; Arrow guarantees it is valid UTF-8.
    _, offsets_buf, data = texts.buffers()
    byte_offsets = np.frombuffer(offsets_buf, dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    raw = data[byte_offsets[0] : byte_offsets[-1]].to_pybytes() if data is not None else b""
    cps = np.frombuffer(raw.decode("utf-8").encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return cps, offsets


@dataclass
class Tokens:
    hashes: np.ndarray  # uint64 per token
    offsets: np.ndarray  # per document, len = docs + 1


def tokenize(texts: pa.Array | pa.ChunkedArray) -> Tokens:
    """Normalize and tokenize a batch; return each token's hash and each document's token range."""
    cps, doc_offsets = codepoints(texts)
    docs = len(doc_offsets) - 1
    folded, cls = fold(cps)
    is_word = cls == WORD
    prev_word = np.empty_like(is_word)
    if len(is_word):
        prev_word[0] = False
        prev_word[1:] = is_word[:-1]
        prev_word[doc_offsets[:-1][doc_offsets[:-1] < len(is_word)]] = False  # never continue a word across documents
    starts_all = (cls == CJK) | (is_word & ~prev_word)
    # A token ends before the next break: a non-word character or another token's start (which covers
    # single-character CJK tokens and document boundaries). Every start is itself a break.
    breaks = np.flatnonzero(~is_word | starts_all)
    k = np.flatnonzero(starts_all[breaks])
    if len(k) == 0:
        return Tokens(np.zeros(0, dtype=np.uint64), np.zeros(docs + 1, dtype=np.int64))
    starts = breaks[k]
    ends = np.append(breaks, len(cps))[k + 1] - 1
    # Token polynomial sum_j c_j K^(j - start) from one prefix sum over the characters:
    # (H[end] - H[start - 1]) * K^-start, with K odd so K^-1 exists mod 2^64.
    powers, inverse = _power_tables(len(cps))
    with np.errstate(over="ignore"):
        prefix = np.cumsum(folded.astype(np.uint64) * powers[: len(cps)], dtype=np.uint64)
        before = np.where(starts > 0, prefix[starts - 1], np.uint64(0))
        hashes = fmix64((prefix[ends] - before) * inverse[starts] + np.uint64(1))
    doc_of_token = np.searchsorted(doc_offsets, starts, side="right") - 1
    offsets = np.zeros(docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc_of_token, minlength=docs), out=offsets[1:])
    return Tokens(hashes, offsets)


def shingle_hashes(tokens: Tokens, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of each document's token n-grams, and per-document offsets into them."""
    hashes, offsets = tokens.hashes, tokens.offsets
    lengths = np.diff(offsets)
    counts = np.where(lengths > 0, np.maximum(lengths - ngram + 1, 1), 0)
    shingle_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=shingle_offsets[1:])
    total = int(shingle_offsets[-1])
    doc = np.repeat(np.arange(len(counts)), counts)
    starts = offsets[:-1][doc] + (np.arange(total, dtype=np.int64) - shingle_offsets[:-1][doc])
    ends = offsets[1:][doc]
    padded = np.concatenate([hashes, np.zeros(ngram, dtype=np.uint64)])
    acc = padded[starts]
    with np.errstate(over="ignore"):
        for k in range(1, ngram):
            idx = starts + k
            # Positions past the document's end add nothing: a short document is one shingle of all it has.
            acc *= _NGRAM_MUL
            acc += np.where(idx < ends, padded[idx], np.uint64(0))
    return acc, shingle_offsets


def document_hashes(tokens: Tokens) -> np.ndarray:
    """(docs, 2) uint64: a 128-bit hash of each document's normalized text (its token sequence)."""
    hashes, offsets = tokens.hashes, tokens.offsets
    docs = len(offsets) - 1
    lengths = np.diff(offsets).astype(np.uint64)
    out = np.zeros((docs, 2), dtype=np.uint64)
    nonempty = np.flatnonzero(lengths > 0)
    if len(hashes):
        pos = _segment_positions(offsets[:-1][nonempty], len(hashes))
        for col, mul in enumerate((_NGRAM_MUL, _DOC_MUL)):
            with np.errstate(over="ignore"):
                terms = hashes * _powers(mul, int(pos.max()) + 1)[pos]
                out[nonempty, col] = np.add.reduceat(terms, offsets[:-1][nonempty])
    with np.errstate(over="ignore"):
        out[:, 0] = fmix64(out[:, 0] ^ lengths)
        out[:, 1] = fmix64(out[:, 1] + lengths * _CHAR_MUL)
    return out
