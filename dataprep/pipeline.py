"""A whole pipeline as one job: a YAML list of steps, validated by pydantic, run in order on one Ray session.

```yaml
output: out/web            # each step writes OUTPUT/NN-STEP unless it names its own `output`
workers: null              # max concurrent tasks per step (null: as many as the cluster has CPUs)
steps:
  - ingest: {inputs: [data/*.jsonl]}
  - dedup: {threshold: 0.8}
```

A step reads the dataset the previous step wrote unless it names `input`. Steps register themselves
with `@register_step("name")`; the registry is what a config may name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from dataprep.errors import UserError

STEPS: dict[str, type["Step"]] = {}


def register_step(name: str) -> Callable[[type["Step"]], type["Step"]]:
    def decorate(cls: type["Step"]) -> type["Step"]:
        cls.step_name = name
        STEPS[name] = cls
        return cls

    return decorate


class StepContext:
    """What steps share while a pipeline runs: the latest outputs and the execution settings."""

    def __init__(self, workers: Optional[int] = None, log: Callable[[str], None] = print):
        self.workers = workers
        self.log = log
        self.dataset: Optional[str] = None  # the latest dataset written
        self.artifacts: dict[str, str] = {}  # other outputs by step name (a tokenizer model, say)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step_name: ClassVar[str] = "step"

    input: Optional[str] = None
    output: Optional[str] = None

    def run(self, ctx: StepContext, out_url: str) -> str:
        """Do the work, return the URL of what was written (becomes the next step's input)."""
        raise NotImplementedError

    def input_url(self, ctx: StepContext) -> str:
        url = self.input or ctx.dataset
        if url is None:
            raise UserError(f"step {self.step_name!r} needs an input dataset: add `input:` or an earlier step")
        return url


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: str
    workers: Optional[int] = None
    address: Optional[str] = None
    steps: list[Step]

    @field_validator("steps", mode="before")
    @classmethod
    def _parse_steps(cls, value: Any) -> list[Step]:
        if not isinstance(value, list) or not value:
            raise ValueError("steps must be a non-empty list like [{ingest: {...}}, {dedup: {...}}]")
        steps = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError(f"step {i} must be a mapping with exactly one step name")
            (name, options), = item.items()
            if name not in STEPS:
                raise ValueError(f"step {i}: unknown step {name!r}; known: {', '.join(sorted(STEPS))}")
            try:
                steps.append(STEPS[name].model_validate(options or {}))
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ValueError(f"step {i} ({name}): {where}: {err['msg']}") from None
        return steps


def load_config(path: str, overrides: Optional[dict[str, Any]] = None) -> PipelineConfig:
    """Read and validate a pipeline YAML; any problem becomes one line naming the file and the key."""
    _load_builtin_steps()
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a mapping with `output` and `steps`")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        raise UserError(f"{path}: {where}: {message}") from None


def run_pipeline(config: PipelineConfig, log: Callable[[str], None] = print) -> list[str]:
    """Run every step in order (inside an open Ray session); return what each step wrote."""
    ctx = StepContext(workers=config.workers, log=log)
    written = []
    for i, step in enumerate(config.steps):
        out = step.output or f"{config.output.rstrip('/')}/{i:02d}-{step.step_name}"
        log(f"step {i} {step.step_name} -> {out}")
        result = step.run(ctx, out)
        written.append(result)
    return written


def _load_builtin_steps() -> None:
    # Importing the operations module registers every step it defines.
    import dataprep.operations  # noqa: F401
