"""The counts a dedup run reports: the `dedup` section of the output manifest and the `clusters` dataset's."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dataprep.dataset.stats import Stats
from dataprep.dedup.params import DedupParams
from dataprep.dedup.removal import EXACT_REASON, EXACT_STAGE, NEAR_REASON, NEAR_STAGE

CLUSTERS_STAGE, UNIQUE_REASON = "dedup_clusters", "no_duplicate"


def dedup_section(params: DedupParams, documents_in: int, documents_out: int, shard_stats: Stats,
                  without_tokens: int, candidate_pairs: int, cluster_sizes: Counter, cc_rounds: int) -> dict[str, Any]:
    """Partition-independent counts only: the manifest's stats are the same for any layout."""
    exact_removed = sum(s.dropped.get(EXACT_REASON, 0) for s in shard_stats.stages if s.name == EXACT_STAGE)
    near_removed = sum(s.dropped.get(NEAR_REASON, 0) for s in shard_stats.stages if s.name == NEAR_STAGE)
    return {
        "threshold": params.threshold, "num_perm": params.num_perm, "ngram": params.ngram,
        "bands": params.bands, "rows": params.rows, "exact": params.exact, "verify": params.verify,
        "documents_in": documents_in, "documents_out": documents_out,
        "exact_removed": exact_removed, "near_removed": near_removed,
        "without_shingles": without_tokens,
        "candidate_pairs": candidate_pairs,  # distinct edges (band and exact) before clustering
        "clusters": sum(cluster_sizes.values()),
        "cluster_sizes": {str(k): cluster_sizes[k] for k in sorted(cluster_sizes)},  # {members: clusters}
        "cc_rounds": cc_rounds,
    }


def clusters_section(dedup: dict[str, Any], rows: int) -> tuple[Stats, dict[str, Any]]:
    """The `clusters` dataset's stage (documents in, members of a cluster out) and its `clusters` section."""
    stats = Stats()
    stats.record_stage(CLUSTERS_STAGE, dedup["documents_in"], rows, {UNIQUE_REASON: dedup["documents_in"] - rows})
    section = {
        "clusters": dedup["clusters"], "rows": rows, "kept": dedup["clusters"], "removed": rows - dedup["clusters"],
        "exact_removed": dedup["exact_removed"], "near_removed": dedup["near_removed"],
        "cluster_sizes": dedup["cluster_sizes"],
        "largest": max((int(k) for k in dedup["cluster_sizes"]), default=0),
    }
    return stats, section
