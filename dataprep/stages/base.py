"""Pipeline stages: small objects that map an Arrow table to an Arrow table and count what they drop."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from dataprep.dataset.stats import Stats


class Stage:
    """Base of every stage. `apply` records rows in/out and the drop reasons under the stage's name."""

    name: str = "stage"

    def process(self, table: pa.Table) -> tuple[pa.Table, Counter]:
        """Return the kept rows and a Counter of dropped rows by reason."""
        raise NotImplementedError

    def apply(self, table: pa.Table, stats: Stats) -> pa.Table:
        out, dropped = self.process(table)
        stats.record_stage(self.name, table.num_rows, out.num_rows, dropped)
        return out


class Filter(Stage):
    """A stage that keeps or drops whole rows. Subclasses return a reason per row (None keeps it)."""

    def reasons(self, table: pa.Table) -> list:
        raise NotImplementedError

    def process(self, table: pa.Table) -> tuple[pa.Table, Counter]:
        reasons = self.reasons(table)
        keep = np.fromiter((r is None for r in reasons), dtype=bool, count=len(reasons))
        dropped = Counter(r for r in reasons if r is not None)
        return table.filter(pa.array(keep)), dropped


def run_stages(table: pa.Table, stages: list[Stage], stats: Stats) -> pa.Table:
    for stage in stages:
        table = stage.apply(table, stats)
    return table
