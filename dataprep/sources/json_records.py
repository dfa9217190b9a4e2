"""JSON records from JSON Lines (cut into byte ranges) or JSON arrays (`[{...}, ...]`, one unit per file).

Shared by the documents, dialogue and preference readers. Records that cannot be read are counted under a
reason and skipped; a damaged compressed stream keeps every record read before the damage.
"""

from __future__ import annotations

import json
from typing import Iterator

from dataprep.sources import files
from dataprep.sources.records import decode_utf8
from dataprep.sources.source import Source


def plan(file: files.InputFile, fmt: str, unit_bytes: int) -> list[dict]:
    base = {"format": fmt, "url": file.url, "source": file.name, "encoding": file.encoding}
    if _is_json_array(file):
        return [{**base, "layout": "array"}]
    return [{**base, "layout": "lines", "start": s, "end": e} for s, e in files.byte_ranges(file, unit_bytes)]


def _is_json_array(file: files.InputFile) -> bool:
    try:
        with files.open_input(file.url, file.encoding) as handle:
            head = handle.read(4096)
    except files.DAMAGED_STREAM:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"[")


def max_line_bytes(max_chars: int) -> int:
    """No record whose text fits `max_chars` characters can take more bytes than this (6 bytes for \\uXXXX escapes)."""
    return 6 * max_chars + (1 << 20)


def iter_records(unit: dict, builder) -> Iterator[tuple[str, dict]]:
    """(fallback id `SOURCE#OFFSET`, record) for every JSON object of the unit; failures go to `builder.reject`."""
    stream = files.open_input(unit["url"], unit.get("encoding", "utf-8"))
    try:
        if unit["layout"] == "array":
            yield from _array_records(unit, stream, builder)
            return
        limit = max_line_bytes(builder.max_chars)
        for offset, raw in files.iter_lines(unit["url"], unit["start"], unit["end"], stream=stream):
            if not raw.strip():
                continue
            if len(raw) > limit:
                builder.reject("too_large")  # skip the parse: its text cannot fit
                continue
            line = decode_utf8(raw)
            if line is None:
                builder.reject("invalid_utf8")
                continue
            try:
                record = json.loads(line)
            except ValueError:
                builder.reject("invalid_json")
                continue
            if not isinstance(record, dict):
                builder.reject("not_an_object")
                continue
            yield f"{unit['source']}#{offset}", record
    except files.DAMAGED_STREAM:
        builder.damaged(unit, stream)
    finally:
        stream.close()


def _array_records(unit: dict, stream, builder) -> Iterator[tuple[str, dict]]:
    text = decode_utf8(stream.read())
    if text is None:
        builder.reject("invalid_utf8")
        return
    try:
        records = json.loads(text)
    except ValueError:
        builder.reject("invalid_json")
        return
    for i, record in enumerate(records if isinstance(records, list) else [records]):
        if isinstance(record, dict):
            yield f"{unit['source']}#{i}", record
        else:
            builder.reject("not_an_object")


def chat_source(fmt: str, kind: str, parse, summary: str) -> Source:
    """A source of chat records in JSON: `parse(record)` gives the validated sides or a rejection reason."""

    def plan_file(file, opts, unit_bytes: int) -> list[dict]:
        return plan(file, fmt, unit_bytes)

    def read_unit(unit: dict, builder, opts) -> None:
        for fallback, record in iter_records(unit, builder):
            builder.add(record, fallback, unit["source"], parse(record))

    return Source(fmt, kind, (), plan_file, read_unit, summary)
