"""What every record builder shares: counting rejected records by reason and naming skipped or damaged files."""

from __future__ import annotations

from collections import Counter

from dataprep.dataset.stats import Stats
from dataprep.sources import files


class RecordBuilder:
    """Subclasses accumulate good rows (`kept` of them) and turn them into a table in `finish`."""

    def __init__(self, stage: str, max_chars: int):
        self.stage = stage
        self.max_chars = max_chars
        self.seen = 0
        self.kept = 0
        self.dropped: Counter = Counter()
        self.file_stats = Stats()

    def reject(self, reason: str, count: int = 1) -> None:
        self.seen += count
        self.dropped[reason] += count

    def skip_file(self, reason: str, name: str) -> None:
        self.file_stats.skip_file(reason, name)

    def damaged(self, unit: dict, stream) -> None:
        """The unit's stream broke (a truncated or corrupt compressed file): the records before it are kept."""
        self.reject("truncated_file")
        self.skip_file("truncated_file", files.damage_note(unit["url"], unit["source"], stream, self.kept))

    def _stats(self, rows_out: int) -> Stats:
        stats = Stats()
        stats.record_stage(self.stage, self.seen, rows_out, self.dropped)
        stats.merge(self.file_stats)
        return stats
