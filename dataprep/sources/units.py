"""How big a work unit is: one rule on the job's total input size only, never on the workers.

unit bytes = clamp(total input bytes / 64, 4 MiB, 64 MiB). A job then has enough units to fill a cluster
(64 per job, 8x the CPUs of a typical node) without units too small to be worth a task, and units of similar
size; since the rule sees only the input, the unit layout, and so every output shard, is the same wherever
the job runs. Line- and record-oriented files are cut at record boundaries; WARC archives at gzip members.
"""

from __future__ import annotations

MIN_UNIT_BYTES = 4 << 20
MAX_UNIT_BYTES = 64 << 20
UNITS_PER_JOB = 64


def unit_bytes(total_bytes: int) -> int:
    return min(max(int(total_bytes) // UNITS_PER_JOB, MIN_UNIT_BYTES), MAX_UNIT_BYTES)


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
