"""Per-batch dedup features: exact-text hashes, MinHash signatures and LSH band keys of a batch of texts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.dedup import minhash
from dataprep.dedup.lsh import band_keys
from dataprep.dedup.params import DedupParams
from dataprep.dedup.shingles import document_hashes, shingle_hashes, tokenize


@dataclass
class BatchFeatures:
    text_hashes: np.ndarray  # (docs, 2) uint64: 128-bit hash of the normalized text (exact dedup)
    signatures: np.ndarray  # (docs, num_perm) uint32
    band_keys: np.ndarray  # (docs, bands) uint64
    has_tokens: np.ndarray  # bool: a document without any token gets no shingle, so no band keys


def batch_bounds(texts: pa.Array | pa.ChunkedArray, max_bytes: int = 1 << 20, max_rows: int = 4096) -> list[tuple[int, int]]:
    """(start, stop) row ranges of at most `max_rows` rows and about `max_bytes` of text (a longer single
    document gets a batch of its own): the per-character work arrays are ~40 bytes a character, so batching by
    bytes is what bounds a task's memory."""
    lengths = pc.fill_null(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    bounds, start, size = [], 0, 0
    for i, n in enumerate(lengths.tolist()):
        if i > start and (size + n > max_bytes or i - start >= max_rows):
            bounds.append((start, i))
            start, size = i, 0
        size += n
    if start < len(lengths):
        bounds.append((start, len(lengths)))
    return bounds


def batch_features(texts: pa.Array | pa.ChunkedArray, params: DedupParams, perms=None) -> BatchFeatures:
    """The features of a batch of texts; `perms` are `minhash.permutations(params.num_perm, params.seed)`,
    drawn once per shard rather than per batch."""
    a, b = perms if perms is not None else minhash.permutations(params.num_perm, params.seed)
    tokens = tokenize(texts)
    shingles, offsets = shingle_hashes(tokens, params.ngram)
    sigs = minhash.signatures(shingles, offsets, a, b)
    return BatchFeatures(
        text_hashes=document_hashes(tokens),
        signatures=sigs,
        band_keys=band_keys(sigs, params.bands, params.rows),
        has_tokens=np.diff(offsets) > 0,
    )
