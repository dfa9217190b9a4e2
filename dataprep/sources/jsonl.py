"""JSON documents: JSON Lines or a JSON array of objects with a text field; other fields are kept in `meta`."""

from __future__ import annotations

from collections import Counter

from dataprep.sources import json_records
from dataprep.sources.records import DocumentBuilder

TEXT_FIELDS = ("text", "content")
ID_FIELDS = ("id", "doc_id")


def plan(url: str, source: str) -> list[dict]:
    return json_records.plan(url, source, "jsonl")


def read(unit: dict, builder: DocumentBuilder, text_field: str | None = None) -> None:
    unread: Counter = Counter()
    for fallback, record in json_records.iter_records(unit, unread, builder.max_chars):
        add_record(builder, record, unit["source"], fallback, text_field)
    for reason, count in unread.items():
        builder.reject(reason, count)


def add_record(builder: DocumentBuilder, record: dict, source: str, fallback_id: str, text_field: str | None) -> None:
    fields = (text_field,) if text_field else TEXT_FIELDS
    key = next((f for f in fields if f in record), None)
    if key is None:
        builder.reject("missing_text")
        return
    id_key = next((f for f in ID_FIELDS if record.get(f) is not None), None)
    doc_id = record[id_key] if id_key else fallback_id
    meta = {k: v for k, v in record.items() if k not in (key, id_key, "url", "lang", "source")}
    builder.add(doc_id, record[key], source, url=record.get("url"), lang=record.get("lang"), meta=meta)
