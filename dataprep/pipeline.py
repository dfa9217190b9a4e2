"""A whole pipeline as one job: a YAML list of steps, validated by the steps' own models, run in order on one Ray session.

```yaml
output: out/web            # each step writes OUTPUT/NN-STEP unless it names its own `output`
workers: null              # max concurrent tasks per step (null: as many as the cluster has CPUs)
steps:
  - ingest: {inputs: [data/*.jsonl]}
  - dedup: {threshold: 0.8}
```

A step reads the dataset the previous step wrote unless it names `input`. Every step is resolved and checked
before the first one runs (and before Ray starts): a bad value names its YAML key (`steps[1].dedup.threshold`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field

from dataprep.errors import UsageError, UserError
from dataprep.params import validate
from dataprep.steps import STEPS, Step, StepContext


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: str = Field(..., description="Folder under which each step writes NN-STEP unless it names its output.")
    workers: Optional[int] = Field(None, ge=1, description="Most tasks at once per step (default: every CPU).")
    address: Optional[str] = Field(None, description="Ray cluster to join (default: RAY_ADDRESS or a local Ray).")


class PipelineConfig:
    """The settings plus the steps, each already its stage's validated model."""

    def __init__(self, settings: PipelineSettings, steps: list[Step]):
        self.settings = settings
        self.steps = steps

    @property
    def output(self) -> str:
        return self.settings.output

    @property
    def workers(self) -> Optional[int]:
        return self.settings.workers

    @property
    def address(self) -> Optional[str]:
        return self.settings.address


def parse_steps(value: Any, where: str = "steps") -> list[Step]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"{where}: must be a non-empty list like [{{ingest: {{...}}}}, {{dedup: {{...}}}}]")
    steps = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise UsageError(f"{where}[{i}]: must be a mapping with exactly one step name")
        (name, options), = item.items()
        if name not in STEPS:
            raise UsageError(f"{where}[{i}]: unknown step {name!r}; known: {', '.join(STEPS)}")
        if options is not None and not isinstance(options, dict):
            raise UsageError(f"{where}[{i}].{name}: must be a mapping of the step's keys")
        steps.append(validate(STEPS[name], options or {}, where=f"{where}[{i}].{name}"))
    return steps


def load_config(path: str, overrides: Optional[dict[str, Any]] = None) -> PipelineConfig:
    """Read and validate a pipeline YAML; any problem becomes one line naming the file and the key."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a mapping with `output` and `steps`")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    steps = data.pop("steps", None)
    try:
        settings = validate(PipelineSettings, data, where=path)
        return PipelineConfig(settings, parse_steps(steps))
    except UsageError as exc:
        message = str(exc)
        raise UsageError(message if message.startswith(path) else f"{path}: {message}") from None


def resolve(config: PipelineConfig) -> list[Step]:
    """Every step with its inputs and outputs filled in from the steps before it."""
    dataset: Optional[str] = None
    artifacts: dict[str, str] = {}
    resolved = []
    for i, step in enumerate(config.steps):
        step = step.chain(dataset, artifacts, f"{config.output.rstrip('/')}/{i:02d}-{step.name}")
        resolved.append(step)
        artifacts.update(step.planned_artifacts())
        if step.writes_dataset:
            dataset = step.planned_output()
    return resolved


def check_all(steps: list[Step], ctx: StepContext) -> None:
    """Check every step before the first runs; outputs of earlier steps count as existing-to-be."""
    ctx.pending = set()
    for i, step in enumerate(steps):
        try:
            step.check(ctx)
        except UserError as exc:
            raise type(exc)(f"steps[{i}].{step.name}: {exc}") from None
        for url in (step.planned_output(), *step.planned_artifacts().values()):
            if url:
                ctx.pending.add(url.rstrip("/"))
    ctx.pending = set()


def run_pipeline(steps: list[Step], ctx: StepContext) -> list[str]:
    """Run resolved, checked steps in order (inside an open Ray session); return what each step wrote.

    A step whose outputs are already committed by a run with the same inputs, parameters and code is skipped
    whole; inside an unfinished step, finished shards are reused."""
    written = []
    for i, step in enumerate(steps):
        if i:
            step.check(ctx)  # its inputs exist now: the checks that had to wait
        if step.finished():
            ctx.log(f"step {i} {step.name}: finished by an earlier run, skipped ({step.planned_output()})")
            written.append(step.planned_output())
            continue
        ctx.log(f"step {i} {step.name} -> {step.planned_output()}")
        result = step.run(ctx)
        ctx.log(f"  {result.summary}")
        written.append(result.output)
    return written


def plan(steps: list[Step]) -> list[dict[str, Any]]:
    """What `run` would do, without doing it (and without Ray): each step's input, output and run/skip status."""
    ctx = StepContext(log=lambda line: None)
    rows, pending = [], set()
    for i, step in enumerate(steps):
        inputs = [u for u in (getattr(step, "input", None), *(getattr(step, "inputs", None) or []),
                              getattr(step, "seeds", None), getattr(step, "tokenizer", None)) if u]
        waiting = [u for u in inputs if u.rstrip("/") in pending]
        if waiting:
            status = "run (after the steps before it)"
        else:
            ctx.pending = set(pending)
            step.check(ctx)
            status = "skip (finished earlier)" if step.finished() else "run"
        rows.append({"step": f"{i} {step.name}", "input": ", ".join(inputs) or "-",
                     "output": step.planned_output() or "-", "status": status})
        if not status.startswith("skip"):
            pending |= {u.rstrip("/") for u in (step.planned_output(), *step.planned_artifacts().values()) if u}
    return rows


def run_config(config: PipelineConfig, log: Callable[[str], None] = print, progress: bool = True) -> list[str]:
    """Resolve and check the whole pipeline, then run it on Ray (a local one, or the configured cluster)."""
    from dataprep.distributed.runtime import ray_session

    ctx = StepContext(workers=config.workers, log=log, progress=progress)
    steps = resolve(config)
    check_all(steps, ctx)
    if all_finished(steps):  # a re-submitted finished pipeline: nothing to do, not even starting Ray
        return run_pipeline(steps, ctx)
    with ray_session(config.address):
        return run_pipeline(steps, ctx)


def all_finished(steps: list[Step]) -> bool:
    for step in steps:
        try:
            if not step.finished():
                return False
        except UserError:
            return False  # its input is not there yet: an earlier step has work to do
    return True
