"""An input shard's surviving rows and the counts of each pass (no Ray)."""

import numpy as np

from dataprep.dedup.nodes import node_keys
from dataprep.dedup.removal import surviving_rows
from tests.dedup.corpus import documents_table, english


def test_rows_named_by_either_list_go_and_other_shards_nodes_are_ignored():
    table = documents_table(english()[:6], lang="en")
    exact = np.concatenate([node_keys(2, np.array([1, 4])), node_keys(3, np.array([0]))])  # shard 3: not ours
    near = np.concatenate([node_keys(2, np.array([4, 5, 5])), node_keys(0, np.array([2]))])  # 4 is in both lists
    kept, stats = surviving_rows(table, 2, exact, near)
    assert kept.column("id").to_pylist() == [english()[i][0] for i in (0, 2, 3)]
    stages = {s.name: s for s in stats.stages}
    assert (stages["exact_dedup"].rows_in, stages["exact_dedup"].rows_out) == (6, 4)
    assert stages["exact_dedup"].dropped == {"exact_duplicate": 2}
    assert (stages["near_dedup"].rows_in, stages["near_dedup"].rows_out) == (4, 3)  # row 4 counted once, as exact
    assert stages["near_dedup"].dropped == {"near_duplicate": 1}
    assert stats.lang == {"en": 3}


def test_without_exact_there_is_no_exact_stage():
    table = documents_table(english()[:3])
    kept, stats = surviving_rows(table, 0, np.zeros(0, np.int64), node_keys(0, np.array([0])), exact=False)
    assert kept.num_rows == 2 and [s.name for s in stats.stages] == ["near_dedup"]
