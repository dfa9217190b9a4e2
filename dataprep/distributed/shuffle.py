"""Layers of plain Ray tasks joined by hash shuffles, with named outputs and named inputs.

A `LayerTask` names what its function returns: each `partitioned` output comes back already cut into the job's
P partitions (one Ray return value per piece, through `num_returns`), each `whole` output as one object, and
always an `info` dict (the function's counters plus the task's memory figures). A `Layer` is the tasks of one
step; `layer.edges[p]` lists every task's piece p of output `edges`, which is exactly what partition p's task
of the next layer reads. The shuffle is that indexing: each piece goes through Ray's object store from the task
that made it straight to the task that reads it, nothing is regrouped in between, and a small layer costs
milliseconds (a Ray Data groupby costs seconds). The partitioning is the task functions' own, so it is
deterministic. Inputs are named too: `Call(*args, edges=refs, ids=refs)` runs `fn(*args, edges=pieces,
ids=pieces)`, with the refs passed to Ray at the top level so that it resolves them before the task starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import ray
from ray import ObjectRef

from dataprep.distributed.progress import gather
from dataprep.distributed.task_memory import TaskMemory


@dataclass(frozen=True)
class LayerTask:
    """A task function and the names of its outputs. The function returns a dict holding, for each name in
    `partitioned`, a list of P pieces, for each name in `whole`, one object, and optionally an `info` dict."""

    fn: Callable[..., dict]
    partitioned: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.fn.__name__

    def num_returns(self, partitions: int) -> int:
        return len(self.partitioned) * partitions + len(self.whole) + 1


class Call:
    """The arguments of one task: plain values, and named inputs (an ObjectRef or a list of them)."""

    def __init__(self, *args: Any, **inputs: Union[ObjectRef, list[ObjectRef]]):
        self.args = args
        self.inputs = inputs


def _execute(task: LayerTask, partitions: int, args: tuple, input_sizes: list, *values: Any):
    """Runs on a worker: regroup the resolved inputs by name, run the function, flatten its named outputs."""
    memory = TaskMemory(values)
    inputs, at = {}, 0
    for name, size in input_sizes:
        inputs[name] = values[at] if size is None else list(values[at : at + size])
        at += 1 if size is None else size
    out = task.fn(*args, **inputs)
    returns: list = []
    for name in task.partitioned:
        if len(out[name]) != partitions:
            raise ValueError(f"{task.name} returned {len(out[name])} pieces of {name!r}, not {partitions}")
        returns.extend(out[name])
    returns.extend(out[name] for name in task.whole)
    returns.append({**out.get("info", {}), **memory.figures()})
    return returns if len(returns) > 1 else returns[0]


_REMOTES: dict[LayerTask, Any] = {}


def _remote(task: LayerTask):
    """One Ray remote function per layer task, named after its function (as Ray's dashboard and errors show it).
    The task travels once inside it, not with every call: per-call options such as `name=` cost measurable CPU
    per task."""
    if task not in _REMOTES:
        def run(partitions: int, args: tuple, input_sizes: list, *values: Any):
            return _execute(task, partitions, args, input_sizes, *values)

        run.__name__ = run.__qualname__ = task.name
        _REMOTES[task] = ray.remote(run)
    return _REMOTES[task]


class Layer:
    """The tasks of one step and their named outputs: `layer.NAME[p]` (partitioned: every task's piece p) or
    `layer.NAME` (whole: every task's object), as lists of ObjectRefs in task order."""

    def __init__(self, task: LayerTask, partitions: int, returns: list[list[ObjectRef]], progress: bool = True):
        self.task = task
        self.partitions = partitions
        self.returns = returns
        self.progress = progress

    def __len__(self) -> int:
        return len(self.returns)

    def __getattr__(self, name: str):
        task = self.__dict__["task"]
        if name in task.partitioned:
            return _Partitions(self, task.partitioned.index(name) * self.partitions)
        if name in task.whole:
            at = len(task.partitioned) * self.partitions + task.whole.index(name)
            return [r[at] for r in self.returns]
        raise AttributeError(f"{task.name} has no output {name!r}")

    def infos(self, label: Optional[str] = None, last: bool = False) -> list[dict]:
        """Wait for every task; their info dicts (with progress named `label`; `last`: the job's final layer,
        which ends with a plain line when there is no terminal)."""
        refs = [r[-1] for r in self.returns]
        return gather(refs, label, enabled=self.progress, final_line=last) if label else ray.get(refs)


class _Partitions:
    def __init__(self, layer: Layer, offset: int):
        self.layer, self.offset = layer, offset

    def __getitem__(self, p: int) -> list[ObjectRef]:
        if not 0 <= p < self.layer.partitions:
            raise IndexError(f"partition {p} of {self.layer.partitions}")
        return [r[self.offset + p] for r in self.layer.returns]


class TaskSubmitter:
    """Submits the layers of a job that has `partitions` shuffle partitions, one CPU per task, at most
    `workers` tasks running at once (None: as many as the cluster fits)."""

    def __init__(self, partitions: int, workers: Optional[int] = None, progress: bool = True):
        self.partitions = partitions
        self.workers = workers
        self.progress = progress
        self.running: list[ObjectRef] = []

    def layer(self, task: LayerTask, calls: list[Call]) -> Layer:
        return Layer(task, self.partitions, [self._submit(task, call) for call in calls], self.progress)

    def _submit(self, task: LayerTask, call: Call) -> list[ObjectRef]:
        refs, sizes = [], []
        for name, value in call.inputs.items():
            if isinstance(value, list):
                refs.extend(value)
                sizes.append((name, len(value)))
            else:
                refs.append(value)
                sizes.append((name, None))
        if self.workers:
            while len(self.running) >= self.workers:
                _, self.running = ray.wait(self.running, num_returns=1)
        remote = _remote(task).options(num_returns=task.num_returns(self.partitions), num_cpus=1)
        returns = remote.remote(self.partitions, call.args, sizes, *refs)
        returns = returns if isinstance(returns, list) else [returns]
        if self.workers:
            self.running.append(returns[-1])
        return returns
