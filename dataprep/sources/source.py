"""What an input format is to the ingest job: one record of the source table (`dataprep.sources.table`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from dataprep.sources import files


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # the record kind its records make: documents, dialogues or preferences
    suffixes: tuple[str, ...]  # matched after compression suffixes are removed; the longest match wins
    plan: Callable[[files.InputFile, Any, int], list[dict]]  # (file, ingest params, unit bytes) -> units
    read: Callable[[dict, Any, Any], None]  # (unit, builder, ingest params): add or reject records
    summary: str
    magic: Optional[bytes] = None  # the (decompressed) file must start with these bytes
    text: bool = True  # a text format: binary content or another format's magic bytes mean a mismatch
    options: Optional[type] = None  # its own parameters, composed into the ingest step
    groups_files: bool = False  # whole-file units (one document per file) are grouped up to the unit size
