"""Batch encoding into the flat arrays of Arrow `large_list` columns, with no per-token Python.

sentencepiece encodes the whole list in its C++ thread pool and hands back one int32 array per text;
numpy concatenates them and the offsets come from a cumulative sum of the lengths.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa


def encode_documents(tokenizer, texts: list[str], threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets int64, tokens, content lengths): each text's ids followed by <|endoftext|>."""
    pieces = tokenizer.sp.encode_as_numpy(texts, add_eos=True, num_threads=threads)
    return flatten(pieces, tokenizer.dtype)


def flatten(pieces: Sequence[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, concatenated values (cast to the shard's dtype) and each piece's length."""
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(pieces).astype(dtype, copy=False) if len(pieces) else np.zeros(0, dtype)
    return offsets, values, lengths


def large_list(offsets: np.ndarray, values: np.ndarray, value_type: pa.DataType) -> pa.LargeListArray:
    """A large_list column over the numpy buffers (zero-copy on the values)."""
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values, value_type))
