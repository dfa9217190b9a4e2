"""How big a work unit is: one rule for every input format, derived from the job's total input size only."""

from __future__ import annotations

MIN_UNIT_BYTES = 4 << 20  # below this, per-unit overhead (a task, a shard, a manifest entry) dominates
MAX_UNIT_BYTES = 64 << 20  # above this, one unit keeps a core busy for minutes and retries get expensive
TARGET_UNITS = 64  # enough units to keep a few dozen cores busy and to balance their loads


def unit_bytes(total_input_bytes: int) -> int:
    """clamp(total / 64, 4 MiB, 64 MiB): units depend on the input alone, never on the cluster."""
    return max(MIN_UNIT_BYTES, min(MAX_UNIT_BYTES, int(total_input_bytes) // TARGET_UNITS))


def group_offsets(offsets: list[int], size: int) -> list[tuple[int, int]]:
    """Cut a file at some of its record `offsets` into [start, end) ranges of about `size` bytes.

    `offsets` are increasing positions where a record starts (the first is where reading begins); the last
    range ends at -1 (end of file), so whatever follows the last known offset, damage included, is read.
    """
    if not offsets:
        return [(0, -1)]
    starts = [offsets[0]]
    for offset in offsets[1:]:
        if offset - starts[-1] >= size:
            starts.append(offset)
    ends = starts[1:] + [-1]
    return list(zip(starts, ends))
