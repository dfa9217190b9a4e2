"""Vectorized MinHash signatures with datasketch 2.0's default `affine32` hash family.

Each shingle's 32-bit hash is pre-mixed once with the MurmurHash3 finalizer, then permutation k is
phv_k = a_k * h + b_k mod 2^32 (a_k odd, so a bijection), exactly as datasketch's `MinHash(scheme="affine32")`
with the same seed: our signature equals datasketch's for the same shingle hashes (tested). In uint32 the
wraparound is the modulo, so the whole permutation is a SIMD multiply-add on a (perms, shingles) block sized
to stay in cache, followed by one `minimum.reduceat` per block for every document the block touches.
"""

from __future__ import annotations

import numpy as np

EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a document without shingles
CHUNK_BYTES = 1 << 22  # block of (perms, shingles): big enough to amortize per-block Python, small for L2/L3


def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of `num_perm` affine permutations, drawn like datasketch's affine32 scheme for `seed`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer: an avalanching bijection, applied once per shingle."""
    h = h.astype(np.uint32, copy=True)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def hash32(shingles: np.ndarray) -> np.ndarray:
    """The 32-bit input hash of 64-bit shingle hashes: their upper half (the better mixed one)."""
    return (shingles >> np.uint64(32)).astype(np.uint32)


def signatures(shingles: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(docs, perms) uint32 signatures of documents whose shingle hashes are `shingles[offsets[i]:offsets[i+1]]`.

    A document without shingles gets EMPTY everywhere.
    """
    docs, perms = len(offsets) - 1, len(a)
    out = np.full((perms, docs), EMPTY, dtype=np.uint32)
    x = fmix32(hash32(shingles))
    total = len(x)
    chunk = max(64, CHUNK_BYTES // (4 * perms))
    block = np.empty((perms, chunk), dtype=np.uint32)
    a_col, b_col = a[:, None], b[:, None]
    doc_of_start = np.searchsorted(offsets, np.arange(0, total, chunk), side="right") - 1
    for ci, s0 in enumerate(range(0, total, chunk)):
        s1 = min(s0 + chunk, total)
        v = block[:, : s1 - s0]
        np.multiply(a_col, x[None, s0:s1], out=v)
        v += b_col
        # Documents overlapping this block, starts clipped to it; each appears once, so plain indexing is safe.
        d0 = doc_of_start[ci]
        d1 = int(np.searchsorted(offsets, s1, side="left"))
        starts = np.clip(offsets[d0:d1], s0, s1)
        nonempty = np.append(starts[1:] > starts[:-1], starts[-1] < s1)
        here = np.arange(d0, d1)[nonempty]
        # Rows are contiguous per permutation, so each segment minimum is a SIMD reduction.
        mins = np.minimum.reduceat(v, starts[nonempty] - s0, axis=1)
        np.minimum(out[:, here], mins, out=mins)
        out[:, here] = mins
    return np.ascontiguousarray(out.T)


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of paired signatures (rows of two equal-shape arrays)."""
    return (sig_a == sig_b).mean(axis=-1)
