"""LSH banding: choosing bands x rows for a threshold, and hashing each band of a signature to one key.

`optimal_params` is datasketch's method (minimize the equally weighted areas under the false-positive
and false-negative parts of the S-curve 1 - (1 - s^r)^b), integrated numerically with numpy.
"""

from __future__ import annotations

import functools

import numpy as np

from dataprep.dedup.shingles import fmix64

_GRID = 2001
_BAND_MUL = np.uint64(0x9E3779B97F4A7C15)


def _area(b: int, r: int, lo: float, hi: float, positive: bool) -> float:
    s = np.linspace(lo, hi, _GRID)
    p = 1.0 - (1.0 - s**r) ** b
    return float(np.trapezoid(p if positive else 1.0 - p, s))


@functools.lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimizing weighted false-positive + false-negative area."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
    best, best_error = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _area(b, r, 0.0, threshold, positive=True)
            fn = _area(b, r, threshold, 1.0, positive=False)
            error = fp * fp_weight + fn * fn_weight
            if error < best_error:
                best, best_error = (b, r), error
    return best


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(docs, bands) uint64: one 64-bit key per band of each signature; equal bands give equal keys.

    The band index is mixed in, so equal values in different bands never share a key.
    """
    docs = signatures.shape[0]
    keys = np.zeros((docs, bands), dtype=np.uint64)
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(docs, bands, rows)
    with np.errstate(over="ignore"):
        for j in range(rows):
            keys *= _BAND_MUL
            keys += sig[:, :, j]
        keys += np.arange(bands, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    return fmix64(keys)
