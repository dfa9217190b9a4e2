"""JSON Lines documents: one object per line with a text field; other fields are kept in `meta`."""

from __future__ import annotations

import json
import zlib
import gzip

from dataprep.sources.files import byte_ranges, iter_lines
from dataprep.sources.records import DocumentBuilder, decode_utf8

TEXT_FIELDS = ("text", "content")
ID_FIELDS = ("id", "doc_id")


def plan(url: str, source: str) -> list[dict]:
    return [{"format": "jsonl", "url": url, "source": source, "start": s, "end": e} for s, e in byte_ranges(url)]


def read(unit: dict, builder: DocumentBuilder, text_field: str | None = None) -> None:
    source = unit["source"]
    try:
        for offset, raw in iter_lines(unit["url"], unit["start"], unit["end"]):
            if not raw.strip():
                continue
            if len(raw) > 4 * builder.max_chars + 65536:
                builder.reject("too_large")  # no text this long fits under max_chars: skip the parse
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
            add_record(builder, record, source, offset, text_field)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError):
        # A truncated or corrupt compressed stream: keep every record read before the damage.
        builder.reject("truncated_file")


def add_record(builder: DocumentBuilder, record: dict, source: str, offset: int, text_field: str | None) -> None:
    fields = (text_field,) if text_field else TEXT_FIELDS
    key = next((f for f in fields if f in record), None)
    if key is None:
        builder.reject("missing_text")
        return
    id_key = next((f for f in ID_FIELDS if record.get(f) is not None), None)
    doc_id = record[id_key] if id_key else f"{source}#{offset}"
    meta = {k: v for k, v in record.items() if k not in (key, id_key, "url", "lang", "source")}
    builder.add(doc_id, record[key], source, url=record.get("url"), lang=record.get("lang"), meta=meta)
