"""Band buckets and exact-hash groups of one partition (no Ray), on small hand-built pieces."""

import numpy as np
import pyarrow as pa

from dataprep.dedup.candidates import band_edges, exact_groups
from dataprep.dedup.params import DedupParams


def ids(*values):
    return pa.array(values, pa.large_string())


def edges(result):
    return sorted(zip(result.src.tolist(), result.dst.tolist()))


def test_each_bucket_member_is_joined_to_the_smallest_node_across_pieces():
    pieces = [
        {"key": np.array([5, 5, 9], np.uint64), "node": np.array([30, 10, 60], np.int64)},
        {},  # a sign task with no rows for this partition
        {"key": np.array([5, 7, 9, 9], np.uint64), "node": np.array([20, 40, 50, 50], np.int64)},
    ]
    result = band_edges(pieces, DedupParams())
    assert edges(result) == [(20, 10), (30, 10), (60, 50)]  # a node twice in a bucket is no edge to itself
    assert result.candidate_buckets == 2  # 5 and 9; 7 has one member


def test_verify_joins_only_members_similar_to_the_centre_chosen_by_id():
    sig = np.arange(10, dtype=np.uint32)
    half = sig.copy()
    half[5:] += 100  # estimated Jaccard 0.5 with sig
    piece = {"key": np.array([1, 1, 1, 1], np.uint64), "node": np.array([7, 3, 9, 5], np.int64),
             "sig": np.stack([sig, sig, half, sig]), "id": ids("a", "c", "b", "d")}
    # Centre: node 7 (smallest id "a"), not node 3 (smallest node); node 9 is too far from it at 0.8.
    assert edges(band_edges([piece], DedupParams(threshold=0.8, verify=True))) == [(3, 7), (5, 7)]
    assert edges(band_edges([piece], DedupParams(threshold=0.4, verify=True))) == [(3, 7), (5, 7), (9, 7)]


def test_exact_groups_keep_the_smallest_id_of_each_group():
    pieces = [
        {"h1": np.array([1, 2, 1], np.uint64), "h2": np.array([8, 8, 8], np.uint64),
         "node": np.array([100, 101, 102], np.int64), "id": ids("m", "x", "b")},
        {"h1": np.array([1, 2, 1], np.uint64), "h2": np.array([8, 8, 9], np.uint64),  # (1, 9) is another text
         "node": np.array([200, 201, 202], np.int64), "id": ids("z", "a", "b")},
    ]
    groups = exact_groups(pieces)
    pairs = sorted(zip(groups.removed.tolist(), groups.kept.tolist()))
    # (1, 8): ids b, m, z -> b (node 102) kept; (2, 8): a, x -> a (node 201) kept; (1, 9): alone.
    assert pairs == [(100, 102), (101, 201), (200, 102)]


def test_no_rows_give_no_edges():
    assert edges(band_edges([{}, {}], DedupParams())) == []
    groups = exact_groups([{}])
    assert len(groups.removed) == len(groups.kept) == 0
