"""JSON records from JSON Lines (cut into byte ranges) or JSON arrays (`[{...}, ...]`, one unit per file).

Shared by the documents, dialogue and preference readers. Records that cannot be read are counted under a
reason and skipped; a damaged compressed stream keeps every record read before the damage.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterator

from dataprep.sources import files
from dataprep.sources.records import MAX_DOC_CHARS, decode_utf8

def plan(url: str, source: str, fmt: str) -> list[dict]:
    if _is_json_array(url):
        return [{"format": fmt, "layout": "array", "url": url, "source": source}]
    return [
        {"format": fmt, "layout": "lines", "url": url, "source": source, "start": s, "end": e}
        for s, e in files.byte_ranges(url)
    ]


def _is_json_array(url: str) -> bool:
    with files.open_input(url) as handle:
        head = handle.read(4096).lstrip()
    return head.startswith(b"[")


def max_line_bytes(max_chars: int) -> int:
    """No record whose text fits `max_chars` characters can take more bytes than this (6 bytes for \\uXXXX escapes)."""
    return 6 * max_chars + (1 << 20)


def iter_records(unit: dict, dropped: Counter, max_chars: int = MAX_DOC_CHARS) -> Iterator[tuple[str, dict]]:
    """(fallback id `SOURCE#OFFSET`, record) for every JSON object of the unit; failures are counted in `dropped`."""
    source = unit["source"]
    try:
        if unit["layout"] == "array":
            yield from _array_records(unit, source, dropped)
            return
        limit = max_line_bytes(max_chars)
        for offset, raw in files.iter_lines(unit["url"], unit["start"], unit["end"]):
            if not raw.strip():
                continue
            if len(raw) > limit:
                dropped["too_large"] += 1  # skip the parse: its text cannot fit
                continue
            line = decode_utf8(raw)
            if line is None:
                dropped["invalid_utf8"] += 1
                continue
            try:
                record = json.loads(line)
            except ValueError:
                dropped["invalid_json"] += 1
                continue
            if not isinstance(record, dict):
                dropped["not_an_object"] += 1
                continue
            yield f"{source}#{offset}", record
    except files.DAMAGED_STREAM:
        dropped["truncated_file"] += 1


def _array_records(unit: dict, source: str, dropped: Counter) -> Iterator[tuple[str, dict]]:
    with files.open_input(unit["url"]) as handle:
        text = decode_utf8(handle.read())
    if text is None:
        dropped["invalid_utf8"] += 1
        return
    try:
        records = json.loads(text)
    except ValueError:
        dropped["invalid_json"] += 1
        return
    for i, record in enumerate(records if isinstance(records, list) else [records]):
        if isinstance(record, dict):
            yield f"{source}#{i}", record
        else:
            dropped["not_an_object"] += 1
