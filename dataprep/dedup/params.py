"""The algorithm's settings for one deduplication run, with the LSH bands and rows derived from them.

The user-facing parameters, their ranges and help, live in the dedup step's model (`dataprep.steps.dedup`),
which builds this object; nothing here re-validates them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dataprep.dedup.lsh import optimal_params


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
        if not self.bands:
            bands, rows = optimal_params(self.threshold, self.num_perm)
            object.__setattr__(self, "bands", bands)
            object.__setattr__(self, "rows", rows)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

