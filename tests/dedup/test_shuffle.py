"""Layers of Ray tasks with named outputs and inputs, on the session's local Ray."""

import numpy as np
import pytest
import ray

from dataprep.dedup.partitions import concat, split
from dataprep.distributed.shuffle import Call, LayerTask, TaskSubmitter


def scatter(values: list[int], partitions: int) -> dict:
    """Values routed by value % partitions; their sum as a whole output."""
    v = np.array(values, np.int64)
    return {"values": split(partitions, v % partitions, v=v), "total": int(v.sum()), "info": {"count": len(v)}}


def collect(label: str, values: list, totals: list) -> dict:
    return {"info": {"label": label, "values": sorted(concat(values, "v").tolist()), "totals": totals}}


SCATTER = LayerTask(scatter, partitioned=("values",), whole=("total",))
COLLECT = LayerTask(collect)


@pytest.mark.parametrize("workers", [None, 1])
def test_each_partition_gets_its_piece_of_every_task_by_name(ray_local, workers):
    tasks = TaskSubmitter(partitions=3, workers=workers)
    scattered = tasks.layer(SCATTER, [Call([1, 2, 3, 4], 3), Call([5, 6], 3), Call([], 3)])
    assert len(scattered) == 3 and len(scattered.values[2]) == 3 and len(scattered.total) == 3
    collected = tasks.layer(COLLECT, [Call(f"p{p}", values=scattered.values[p], totals=scattered.total)
                                      for p in range(3)])
    infos = collected.infos()
    assert [i["values"] for i in infos] == [[3, 6], [1, 4], [2, 5]]
    assert all(i["totals"] == [10, 11, 0] and i["label"] == f"p{p}" for p, i in enumerate(infos))
    first = scattered.infos()
    assert [i["count"] for i in first] == [4, 2, 0]
    assert all(i["input_mb"] == 0 and i["peak_mb"] > 0 for i in first)  # memory figures of every task
    assert infos[0]["input_mb"] > 0  # ... counting its inputs' bytes


def test_a_wrong_piece_count_and_an_unknown_output_are_errors(ray_local):
    layer = TaskSubmitter(partitions=2).layer(SCATTER, [Call([1], 2)])
    with pytest.raises(AttributeError, match="scatter has no output 'edges'"):
        layer.edges  # noqa: B018
    assert layer.infos() == [{**layer.infos()[0], "count": 1}]
    bad = LayerTask(lambda: {"values": [{}]}, partitioned=("values",))
    with pytest.raises(ray.exceptions.RayTaskError, match="1 pieces of 'values', not 2"):
        TaskSubmitter(partitions=2).layer(bad, [Call()]).infos()
