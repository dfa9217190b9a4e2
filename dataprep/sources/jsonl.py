"""JSON documents: JSON Lines or a JSON array of objects with a text field; other fields are kept in `meta`."""

from __future__ import annotations

from typing import Optional

from dataprep.params import Opt, Params
from dataprep.sources import json_records
from dataprep.sources.records import DocumentBuilder
from dataprep.sources.source import Source

TEXT_FIELDS = ("text", "content")
ID_FIELDS = ("id", "doc_id")


class RecordOptions(Params):
    text_field: Optional[str] = Opt(None, "JSONL/Parquet field holding the text (default: text, then content).",
                                    metavar="FIELD")


def plan(file, opts, unit_bytes: int) -> list[dict]:
    return json_records.plan(file, "jsonl", unit_bytes)


def read(unit: dict, builder: DocumentBuilder, opts) -> None:
    for fallback, record in json_records.iter_records(unit, builder):
        add_record(builder, record, unit["source"], fallback, opts.text_field)


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


SOURCE = Source("jsonl", "documents", (".jsonl", ".ndjson", ".json"), plan, read,
                "JSON Lines or a JSON array of objects with a text field", options=RecordOptions)
