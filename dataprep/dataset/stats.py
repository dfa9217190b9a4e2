"""Mergeable statistics that every stage records and the manifest carries.

Shards are processed independently, so every statistic here is a sum that merges in any order:
per-stage row counts with drop reasons, a language counter, named counters, and log-binned
histograms (8 bins per octave, about 9% resolution) from which percentiles are estimated.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

BINS_PER_OCTAVE = 8
MAX_FILE_NAMES = 100  # skipped files listed per reason; the count covers the rest
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def log_bins(values: np.ndarray) -> Counter:
    """Histogram of non-negative values in log bins: 0 for zero, else floor(8*log2(v)) + 1."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return Counter()
    bins = np.zeros(values.shape, dtype=np.int64)
    positive = values > 0
    bins[positive] = np.floor(BINS_PER_OCTAVE * np.log2(values[positive])).astype(np.int64) + 1
    uniq, counts = np.unique(bins, return_counts=True)
    return Counter(dict(zip(uniq.tolist(), counts.tolist())))


def bin_value(index: int) -> float:
    """The geometric middle of a log bin."""
    if index <= 0:
        return 0.0
    return 2.0 ** ((index - 1 + 0.5) / BINS_PER_OCTAVE)


def bin_edges(index: int) -> tuple[float, float]:
    if index <= 0:
        return 0.0, 1.0
    return 2.0 ** ((index - 1) / BINS_PER_OCTAVE), 2.0 ** (index / BINS_PER_OCTAVE)


def histogram_percentiles(hist: Counter, percentiles=PERCENTILES) -> dict[str, float]:
    total = sum(hist.values())
    if total == 0:
        return {}
    keys = sorted(hist)
    cumulative = np.cumsum([hist[k] for k in keys])
    out = {}
    for p in percentiles:
        rank = max(1, math.ceil(p / 100 * total))
        idx = int(np.searchsorted(cumulative, rank))
        out[f"p{p}"] = round(bin_value(keys[idx]), 1)
    return out


@dataclass
class StageCount:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    dropped: Counter = field(default_factory=Counter)

    def merge(self, other: "StageCount") -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.dropped.update(other.dropped)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(sorted(self.dropped.items())),
        }

    @classmethod
    def from_json(cls, data: dict) -> "StageCount":
        return cls(data["name"], data["rows_in"], data["rows_out"], Counter(data.get("dropped", {})))


@dataclass
class Stats:
    """Statistics of one shard or, merged, of a whole dataset."""

    stages: list[StageCount] = field(default_factory=list)
    lang: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)
    histograms: dict[str, Counter] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)  # reason -> {"count": n, "names": [...]}: skipped input files

    def skip_file(self, reason: str, name: str) -> None:
        """An input file that gave no records (or lost some): counted, and named up to MAX_FILE_NAMES per reason."""
        self._add_files(reason, 1, [name])

    def _add_files(self, reason: str, count: int, names: list[str]) -> None:
        entry = self.files.setdefault(reason, {"count": 0, "names": []})
        entry["count"] += count
        entry["names"] = sorted(set(entry["names"]) | set(names))[:MAX_FILE_NAMES]

    @property
    def files_skipped(self) -> int:
        return sum(e["count"] for e in self.files.values())

    def stage(self, name: str) -> StageCount:
        for stage in self.stages:
            if stage.name == name:
                return stage
        stage = StageCount(name)
        self.stages.append(stage)
        return stage

    def record_stage(self, name: str, rows_in: int, rows_out: int, dropped: Counter | dict | None = None):
        stage = self.stage(name)
        stage.rows_in += rows_in
        stage.rows_out += rows_out
        if dropped:
            stage.dropped.update({k: v for k, v in dict(dropped).items() if v})

    def add_histogram(self, name: str, values) -> None:
        self.histograms.setdefault(name, Counter()).update(log_bins(values))

    def merge(self, other: "Stats") -> "Stats":
        for stage in other.stages:
            self.stage(stage.name).merge(stage)
        self.lang.update(other.lang)
        self.counters.update(other.counters)
        for name, hist in other.histograms.items():
            self.histograms.setdefault(name, Counter()).update(hist)
        for reason, entry in other.files.items():
            self._add_files(reason, entry["count"], entry["names"])
        return self

    @classmethod
    def merged(cls, items) -> "Stats":
        total = cls()
        for item in items:
            total.merge(item)
        return total

    def with_history(self, history: list[StageCount]) -> "Stats":
        """Prepend the stage counts of the input dataset, so a dataset's stats tell its whole lineage."""
        names = {s.name for s in self.stages}
        earlier = [StageCount.from_json(s.to_json()) for s in history if s.name not in names]
        self.stages = earlier + self.stages
        return self

    def to_json(self) -> dict:
        data = {
            "stages": [s.to_json() for s in self.stages],
            "lang": dict(sorted(self.lang.items(), key=lambda kv: (-kv[1], kv[0]))),
            "counters": dict(sorted(self.counters.items())),
            "histograms": {
                name: {str(k): v for k, v in sorted(hist.items())} for name, hist in sorted(self.histograms.items())
            },
        }
        if self.files:
            data["files"] = {reason: dict(self.files[reason]) for reason in sorted(self.files)}
        return data

    @classmethod
    def from_json(cls, data: dict | None) -> "Stats":
        data = data or {}
        return cls(
            stages=[StageCount.from_json(s) for s in data.get("stages", [])],
            lang=Counter(data.get("lang", {})),
            counters=Counter(data.get("counters", {})),
            histograms={
                name: Counter({int(k): v for k, v in hist.items()})
                for name, hist in data.get("histograms", {}).items()
            },
            files={reason: {"count": e["count"], "names": list(e["names"])} for reason, e in data.get("files", {}).items()},
        )
