"""The filter protocol: a stage sees a Batch (an Arrow table of documents plus shared features) and returns, per row,
keep or a reason, with the rule's measured value and threshold for the rows it rejects; a mapper returns rewritten
columns plus counters. Datatrove's `(False, "gopher_short_doc")`, vectorized.

Thresholds are per language: every filter has a `Params` model whose fields are the rules' thresholds (a field set to
None disables that rule) and the chain hands it one Params (or None: filter off) per language code. `Checks` turns the
per-language thresholds into per-row arrays, so a rule is one numpy comparison over the whole batch, and a disabled
rule is a NaN threshold that never compares true.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Optional

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from dataprep.dataset.stats import Stats
    from dataprep.filters.batch import Batch


class Params(BaseModel):
    """Per-language thresholds of one filter. Every rule is a keyword; None disables it."""

    model_config = ConfigDict(extra="forbid")


class Options(BaseModel):
    """Filter-wide settings (not per language)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class StageResult:
    """What one stage did to a batch: per-row keep/reason/value/threshold, rewritten columns, counters."""

    keep: np.ndarray
    reason: np.ndarray  # object: None where kept
    value: np.ndarray  # float64: the measured value of the failing rule (NaN where kept or not numeric)
    threshold: np.ndarray  # float64: the threshold it crossed
    columns: dict[str, pa.Array] = field(default_factory=dict)  # rewritten columns, for every row of the batch
    counters: Counter = field(default_factory=Counter)

    @classmethod
    def keep_all(cls, n: int) -> "StageResult":
        return cls(np.ones(n, bool), np.full(n, None, object), np.full(n, np.nan), np.full(n, np.nan))


class Checks:
    """Accumulates a filter's rules in order; a row's first failing rule is its reason (as datatrove returns early)."""

    def __init__(self, batch: "Batch", thresholds: dict[str, Optional[Params]]):
        self.batch = batch
        self.n = batch.num_rows
        self.thresholds = thresholds
        self.result = StageResult.keep_all(self.n)
        langs = batch.lang
        self._sections = {code: self.section(code) for code in set(langs)}
        self._lang = langs

    def section(self, lang: str) -> Optional[Params]:
        """The Params that apply to a language: its own section, else `default` (None: the filter is off)."""
        return self.thresholds[lang] if lang in self.thresholds else self.thresholds.get("default")

    @property
    def active(self) -> np.ndarray:
        """Rows whose language has this filter on: compute costly features for these only."""
        return np.array([self._sections[code] is not None for code in self._lang], bool)

    def param(self, name: str) -> np.ndarray:
        """Per-row value of a numeric threshold (NaN where the rule or the filter is off for the row's language)."""
        by_lang = {}
        for code, section in self._sections.items():
            value = None if section is None else getattr(section, name)
            by_lang[code] = np.nan if value is None else float(value)
        return np.array([by_lang[code] for code in self._lang], np.float64)

    def below(self, reason: str, value: np.ndarray, minimum: np.ndarray) -> None:
        self.fail(reason, value < minimum, value, minimum)

    def above(self, reason: str, value: np.ndarray, maximum: np.ndarray) -> None:
        self.fail(reason, value > maximum, value, maximum)

    def fail(self, reason: str, fails: np.ndarray, value: np.ndarray, threshold: np.ndarray) -> None:
        """Reject rows where `fails` holds and no earlier rule rejected them."""
        with np.errstate(invalid="ignore"):
            new = np.asarray(fails, bool) & self.result.keep
        if not new.any():
            return
        r = self.result
        r.keep[new] = False
        r.reason[new] = reason
        r.value[new] = np.broadcast_to(np.asarray(value, np.float64), new.shape)[new]
        r.threshold[new] = np.broadcast_to(np.asarray(threshold, np.float64), new.shape)[new]


class Stage:
    """A named step of a filter chain. Subclasses set `name`, `Params`, `Options` and implement `apply`."""

    name: ClassVar[str]
    Params: ClassVar[type[Params]] = Params
    Options: ClassVar[type[Options]] = Options
    per_language: ClassVar[bool] = True  # False: the stage has options only, no thresholds section

    def __init__(self, options: Optional[Options] = None, thresholds: Optional[dict[str, Optional[Params]]] = None):
        self.options = options if options is not None else self.Options()
        self.thresholds = thresholds if thresholds is not None else {"default": self.Params()}

    def apply(self, batch: "Batch") -> StageResult:
        raise NotImplementedError

    def run(self, batch: "Batch", stats: "Stats") -> StageResult:
        """Apply to a batch and count it in `stats` as this stage: rows in and out, drops by reason, the mapper's
        counters and the time taken (`time_ms.<name>`)."""
        started = time.perf_counter()
        result = self.apply(batch)
        stats.counters[f"time_ms.{self.name}"] += int(round((time.perf_counter() - started) * 1000))
        stats.counters.update(result.counters)
        dropped = ~result.keep
        stats.record_stage(self.name, len(result.keep), int(result.keep.sum()), Counter(result.reason[dropped].tolist()))
        return result


class Filter(Stage):
    """Keeps or rejects rows; `evaluate` adds rules to a Checks."""

    def apply(self, batch: "Batch") -> StageResult:
        checks = Checks(batch, self.thresholds)
        if checks.n and checks.active.any():
            self.evaluate(batch, checks)
        return checks.result

    def evaluate(self, batch: "Batch", checks: Checks) -> None:
        raise NotImplementedError


class Mapper(Stage):
    """Rewrites columns and counts what it changed; keeps every row."""

    def apply(self, batch: "Batch") -> StageResult:
        result = StageResult.keep_all(batch.num_rows)
        if batch.num_rows:
            result.columns, result.counters = self.map(batch)
        return result

    def map(self, batch: "Batch") -> tuple[dict[str, pa.Array], Counter]:
        raise NotImplementedError
