"""The table of input formats: from it come format guessing, the CLI's `--format` choices, the pipeline's
ingest step validation and the README's list. A new format is a new module with a `SOURCE` plus one line here.

A source says what it reads (its name, the record kind it makes, its suffixes, its magic bytes), how a file
becomes work units (`plan`, in the driver, before any work), and how a unit becomes records (`read`, in a worker).
Its own options (a pydantic model) are composed into the ingest step's parameters.
"""

from __future__ import annotations

from typing import Optional

from dataprep.sources import dialogue, files, html, jsonl, parquet, preference, text, warc, wet
from dataprep.sources.source import Source

SOURCES: dict[str, Source] = {s.name: s for s in (
    jsonl.SOURCE,
    parquet.SOURCE,
    text.SOURCE,
    warc.SOURCE,
    wet.SOURCE,
    html.SOURCE,
    dialogue.SOURCE,
    preference.SOURCE,
)}


def guess_format(url: str) -> Optional[str]:
    """The format whose suffix ends the file name (compression suffixes removed first), or None."""
    name = url.lower()
    codec = files.compression_of(name)
    if codec:
        name = name[: -len(codec)]
    matches = [(len(suffix), s.name) for s in SOURCES.values() for suffix in s.suffixes if name.endswith(suffix)]
    return max(matches)[1] if matches else None


def format_help() -> str:
    return "; ".join(f"{s.name}: {s.summary}" for s in SOURCES.values())
