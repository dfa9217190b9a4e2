"""The settings of one deduplication run, validated once, with the LSH bands and rows derived from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dataprep.dedup.lsh import optimal_params
from dataprep.errors import UserError


@dataclass(frozen=True)
class DedupParams:
    threshold: float = 0.8  # estimated Jaccard similarity above which two documents are near-duplicates
    num_perm: int = 128
    ngram: int = 5  # tokens per shingle: words, or single CJK characters
    exact: bool = True  # also remove exact duplicates of the normalized text (reported separately)
    verify: bool = False  # drop candidate pairs whose signature Jaccard is below threshold
    seed: int = 1  # permutation seed (datasketch's default)
    bands: int = field(default=0)
    rows: int = field(default=0)

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise UserError(f"--threshold must be between 0 and 1 (exclusive), not {self.threshold}")
        if not 2 <= self.num_perm <= 4096:
            raise UserError(f"--num-perm must be between 2 and 4096, not {self.num_perm}")
        if not 1 <= self.ngram <= 64:
            raise UserError(f"--ngram must be between 1 and 64, not {self.ngram}")
        if not self.bands:
            bands, rows = optimal_params(self.threshold, self.num_perm)
            object.__setattr__(self, "bands", bands)
            object.__setattr__(self, "rows", rows)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

