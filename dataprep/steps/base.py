"""A stage as one object: its parameters (a pydantic model), the checks it can make before any work, and `run`.

The command line builds a step from its flags, a pipeline from its YAML; both then call `check` (before
Ray starts: inputs, options, outputs) and `run` (inside a Ray session). A pipeline first resolves every step
(`chain`: inputs default to the previous step's output, outputs to OUTPUT/NN-step), then checks them all, then
runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional

from dataprep.dataset.manifest import Manifest
from dataprep.params import Params


@dataclass
class StepContext:
    """What a step needs to know about the run it is part of."""

    workers: Optional[int] = None
    log: Callable[[str], None] = print
    progress: bool = True
    # Datasets and files that earlier steps of the same pipeline will write: they do not exist yet when the
    # pipeline is checked, so a step may not open them then.
    pending: set[str] = field(default_factory=set)

    def exists_later(self, url: Optional[str]) -> bool:
        return url is not None and url.rstrip("/") in self.pending


@dataclass
class StepResult:
    output: str  # the dataset (or tokenizer model) written: the next step's input
    summary: str  # one line for the user
    manifest: Optional[Manifest] = None
    reused: int = 0
    artifacts: dict[str, str] = field(default_factory=dict)  # named outputs later steps may use (tokenizer)


class Step(Params):
    name: ClassVar[str] = "step"
    writes_dataset: ClassVar[bool] = True  # False: later steps keep reading the dataset this step read

    def chain(self, dataset: Optional[str], artifacts: dict[str, str], default_output: str) -> "Step":
        """This step with the pipeline's defaults filled in: `dataset` is the latest dataset written by an earlier
        step (its default input), `artifacts` what earlier steps named (a tokenizer model), `default_output` the
        folder OUTPUT/NN-step."""
        return self

    def planned_output(self) -> Optional[str]:
        """What the step will write, known before it runs (a pipeline marks it pending for later steps)."""
        return getattr(self, "output", None)

    def planned_artifacts(self) -> dict[str, str]:
        return {}

    def check(self, ctx: StepContext) -> None:
        """Refuse, before any work, what can be known to fail. Raises UserError."""

    def finished(self) -> bool:
        """Its outputs are committed by a run with the same inputs, parameters and code: a pipeline skips it
        whole (no task runs, no file is rewritten). Called when its inputs exist."""
        return False

    def run(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError

    def yaml_key(self) -> dict[str, Any]:
        """The step as a pipeline YAML item."""
        return {self.name: self.model_dump(exclude_defaults=True)}
