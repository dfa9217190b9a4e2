"""Layer 5 of dedup: an input shard's surviving rows, with the counts of what each pass removed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dataprep.dataset.stats import Stats
from dataprep.dedup.nodes import rows_in_shard
from dataprep.sources.records import add_document_stats

EXACT_STAGE, EXACT_REASON = "exact_dedup", "exact_duplicate"
NEAR_STAGE, NEAR_REASON = "near_dedup", "near_duplicate"


def surviving_rows(table: pa.Table, shard: int, exact_removed: np.ndarray, near_removed: np.ndarray,
                   exact: bool = True) -> tuple[pa.Table, Stats]:
    """The rows of input shard number `shard` whose nodes are in neither removal list (which may name other
    shards' nodes too), and the shard's stats: exact removals counted first, then near ones."""
    keep = np.ones(table.num_rows, dtype=bool)
    keep[rows_in_shard(exact_removed, shard)] = False
    after_exact = int(keep.sum())
    keep[rows_in_shard(near_removed, shard)] = False
    kept = table.filter(pa.array(keep))
    stats = Stats()
    if exact:
        stats.record_stage(EXACT_STAGE, table.num_rows, after_exact, {EXACT_REASON: table.num_rows - after_exact})
    stats.record_stage(NEAR_STAGE, after_exact, kept.num_rows, {NEAR_REASON: after_exact - kept.num_rows})
    add_document_stats(kept, stats)
    return kept, stats
