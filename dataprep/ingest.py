"""`dataprep ingest`: raw files -> a `documents` dataset (one shard per work unit)."""

from __future__ import annotations

from typing import Optional

import pyarrow as pa

from dataprep.dataset.schemas import DOCUMENTS
from dataprep.dataset.stats import Stats
from dataprep.errors import UserError
from dataprep.shardjob import ShardJob
from dataprep.sources import files, html, jsonl, parquet, text, warc, wet
from dataprep.sources.records import MAX_DOC_CHARS, DocumentBuilder
from dataprep.sources.units import unit_bytes
from dataprep.web.extract import DEFAULT_EXTRACTOR, resolve
from dataprep.web.page import ExtractOptions

DOCUMENT_FORMATS = ("jsonl", "parquet", "text", "warc", "wet", "html")
SUFFIX_FORMATS = {  # longest suffixes first: `.warc.wet.gz` is WET, not WARC
    ".warc.wet": "wet",
    ".warc.wat": "warc",  # counted as wat_unsupported record by record
    ".warc": "warc",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".txt": "text",
    ".md": "text",
    ".text": "text",
}


def guess_format(url: str) -> Optional[str]:
    name = url
    for suffix in files.COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for suffix, fmt in SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    return None


class IngestJob(ShardJob):
    name = "ingest"
    kind = "documents"
    schema = DOCUMENTS

    def __init__(
        self,
        sources: list[str],
        out_url: str,
        fmt: Optional[str] = None,
        text_split: str = "file",
        text_field: Optional[str] = None,
        max_chars: int = MAX_DOC_CHARS,
        extractor: str = DEFAULT_EXTRACTOR,
    ):
        inputs = files.expand_inputs(sources)
        described = [files.describe(url) for url, _ in inputs]
        unit_size = unit_bytes(sum(d["bytes"] or 0 for d in described))
        try:
            resolve(extractor)
        except (ValueError, ImportError, AttributeError) as exc:
            raise UserError(f"--extractor: {exc}") from None
        units = []
        for url, source in inputs:
            this_format = fmt or guess_format(url)
            if this_format is None:
                raise UserError(f"cannot guess the format of {url}; pass --format ({'|'.join(DOCUMENT_FORMATS)})")
            if this_format not in DOCUMENT_FORMATS:
                raise UserError(f"format {this_format!r} is not a documents format here ({'|'.join(DOCUMENT_FORMATS)})")
            if this_format == "jsonl":
                units.extend(jsonl.plan(url, source))
            elif this_format == "parquet":
                units.extend(parquet.plan(url, source))
            elif this_format == "warc":
                units.extend(warc.plan(url, source, unit_size))
            elif this_format == "wet":
                units.extend(wet.plan(url, source, unit_size))
            elif this_format == "html":
                units.extend(html.plan(url, source))
            else:
                units.extend(text.plan(url, source, text_split))
        config = {"format": fmt, "text_split": text_split, "text_field": text_field, "max_chars": max_chars,
                  "extractor": extractor}
        super().__init__(out_url, units, config, described)
        self.text_field = text_field
        self.max_chars = max_chars
        self.extract_options = ExtractOptions(extractor)

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        builder = DocumentBuilder(self.name, self.max_chars)
        if unit["format"] == "jsonl":
            jsonl.read(unit, builder, self.text_field)
        elif unit["format"] == "parquet":
            parquet.read(unit, builder, self.text_field)
        elif unit["format"] == "warc":
            warc.read(unit, builder, self.extract_options)
        elif unit["format"] == "wet":
            wet.read(unit, builder)
        elif unit["format"] == "html":
            html.read(unit, builder, self.extract_options)
        else:
            text.read(unit, builder)
        return builder.finish()
