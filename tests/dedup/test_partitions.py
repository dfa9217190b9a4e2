"""Cutting columns into hash partitions, and the partition count (no Ray)."""

import numpy as np
import pyarrow as pa

from dataprep.dedup.partitions import concat, concat_ids, merge, partition_count, partition_of, split


def test_partition_count_follows_the_input_only():
    assert partition_count(input_shards=1, rows=10, rows_per_partition=100_000) == 1
    assert partition_count(input_shards=5, rows=10, rows_per_partition=100_000) == 5  # one per shard ...
    assert partition_count(input_shards=500, rows=10, rows_per_partition=100_000) == 64  # ... at most 64 ...
    assert partition_count(input_shards=500, rows=10_000_001, rows_per_partition=100_000) == 101  # ... unless rows say more
    assert partition_count(input_shards=0, rows=0, rows_per_partition=0) == 1


def test_split_keeps_row_order_within_each_piece_and_merge_undoes_batches():
    nodes = np.arange(1000, dtype=np.int64)
    by = partition_of(nodes, 4)
    pieces = split(4, by, node=nodes, twice=nodes * 2)
    assert sorted(len(p["node"]) for p in pieces) == sorted(np.bincount(by, minlength=4).tolist())
    assert min(len(p["node"]) for p in pieces) > 200  # a hash spreads consecutive keys evenly
    for p, piece in enumerate(pieces):
        assert (np.diff(piece["node"]) > 0).all() and (piece["twice"] == 2 * piece["node"]).all()
        assert (partition_of(piece["node"], 4) == p).all()
    ids = pa.array(["a", "b"], pa.large_string())
    merged = merge([{"node": nodes[:2], "id": ids}, {"node": nodes[2:2], "id": ids.slice(0, 0)}])
    assert merged["node"].tolist() == [0, 1] and merged["id"].to_pylist() == ["a", "b"]
    assert merge([]) == {}
    assert concat([{}, {"node": nodes[:3]}], "node").tolist() == [0, 1, 2] and len(concat([{}], "node")) == 0
    assert concat_ids([{}]).type == pa.large_string()
