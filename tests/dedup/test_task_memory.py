"""A task's memory figures, measured in this process (Linux /proc)."""

import numpy as np
import pyarrow as pa

from dataprep.distributed.task_memory import TaskMemory, largest, nbytes


def test_inputs_are_counted_and_growth_shows_in_the_working_set():
    inputs = ({"a": np.zeros(1 << 20, np.uint8), "ids": pa.array(["x" * 1000] * 1024)}, [np.zeros(1 << 17)])
    assert nbytes(inputs) == (1 << 20) + pa.array(["x" * 1000] * 1024).nbytes + (1 << 20)
    memory = TaskMemory(inputs)
    held = np.ones(64 << 20, np.uint8)  # 64 MiB, every page touched
    figures = memory.figures()
    assert abs(figures["input_mb"] - nbytes(inputs) / 2**20) < 1e-9
    assert figures["work_mb"] >= 64 + figures["input_mb"] - 1
    assert figures["peak_mb"] >= 64
    del held


def test_largest_takes_each_figure_over_a_layers_tasks():
    infos = [{"peak_mb": 10.04, "work_mb": 3, "input_mb": 1}, {"peak_mb": 9, "work_mb": 5.26, "input_mb": 0}]
    assert largest(infos) == {"peak_mb": 10.0, "work_mb": 5.3, "input_mb": 1}
    assert largest([]) == {"peak_mb": 0.0, "work_mb": 0.0, "input_mb": 0.0}
