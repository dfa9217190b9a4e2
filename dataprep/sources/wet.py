"""Common Crawl WET files (`.warc.wet.gz`): `conversion` records are already plain text, one document each.

`lang` comes from `WARC-Identified-Content-Language` (ISO 639-3, mapped to the ISO 639-1 codes the rest of the
pipeline uses); other record types are counted under the WARC source's reasons.
"""

from __future__ import annotations

from typing import Optional

from dataprep.sources import warc_stream
from dataprep.sources.records import DocumentBuilder, decode_utf8
from dataprep.sources.source import Source
from dataprep.sources.warc import SKIPPED_TYPES


def plan(file, opts, unit_bytes: int) -> list[dict]:
    return warc_stream.plan(file.url, file.name, "wet", unit_bytes)


def read(unit: dict, builder: DocumentBuilder, opts) -> None:
    try:
        for record in warc_stream.iter_records(unit):
            _read_record(record, unit, builder)
    except warc_stream.DAMAGED_ARCHIVE as exc:
        warc_stream.damaged(unit, builder, exc)


def _read_record(record, unit: dict, builder: DocumentBuilder) -> None:
    if record.rec_type != "conversion":
        builder.reject(SKIPPED_TYPES.get(record.rec_type, f"warc_{record.rec_type}"))
        return
    raw = record.content_stream().read(4 * builder.max_chars + 1)
    if warc_stream.block_truncated(record):
        builder.reject("truncated_record")
        return
    text = decode_utf8(raw)
    if text is None:
        builder.reject("undecodable")
        return
    headers = record.rec_headers
    record_id = warc_stream.unwrap(headers.get_header("WARC-Record-ID"))
    meta = {"warc_date": headers.get_header("WARC-Date"), "warc_record_id": record_id,
            "warc_refers_to": warc_stream.unwrap(headers.get_header("WARC-Refers-To"))}
    builder.add(record_id or f"{unit['source']}#{unit['start']}", text, unit["source"],
                url=warc_stream.unwrap(headers.get_header("WARC-Target-URI")),
                lang=iso639_1(headers.get_header("WARC-Identified-Content-Language")), meta=meta)


def iso639_1(languages: Optional[str]) -> Optional[str]:
    """The first of Common Crawl's comma-separated ISO 639-3 codes as ISO 639-1 where one exists ("spa,eng" ->
    "es"); None leaves the language to our own identification."""
    if not languages:
        return None
    code = languages.split(",")[0].strip().lower()
    if not code:
        return None
    from babel.core import get_global

    return get_global("language_aliases").get(code) or code


SOURCE = Source("wet", "documents", (".warc.wet", ".wet"), plan, read,
                "Common Crawl WET files: conversion records are already text", magic=b"WARC/", text=False)
