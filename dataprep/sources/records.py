"""Validating raw records into `documents` rows; every rejected record is counted under a reason."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from dataprep.dataset.schemas import DOCUMENTS
from dataprep.dataset.stats import Stats
from dataprep.langid import detect
from dataprep.sources.builder import RecordBuilder

MAX_DOC_CHARS = 1_000_000  # longer "documents" are dumps, logs or binary blobs, not prose
# Control characters other than tab/newline/CR: a few are noise, many mean binary content.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
BINARY_CONTROL_FRACTION = 0.01


def decode_utf8(raw: bytes) -> Optional[str]:
    """The text of UTF-8 bytes (a leading byte-order mark dropped), or None when they are not UTF-8."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None


def text_problem(text: Any, max_chars: int = MAX_DOC_CHARS) -> Optional[str]:
    """The reason to reject a document's text, or None when it is usable."""
    if not isinstance(text, str):
        return "wrong_type"
    if not text.strip():
        return "empty_text"
    if len(text) > max_chars:
        return "too_large"
    sample = text[:20000]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > BINARY_CONTROL_FRACTION * len(sample):
        return "binary_content"
    return None


class DocumentBuilder(RecordBuilder):
    """Accumulates good documents column by column and counts the rejected ones."""

    def __init__(self, stage: str = "ingest", max_chars: int = MAX_DOC_CHARS):
        super().__init__(stage, max_chars)
        self.columns: dict[str, list] = {name: [] for name in DOCUMENTS.names}

    def add(self, id: Any, text: Any, source: str, url: Any = None, lang: Any = None, meta: Any = None) -> bool:
        self.seen += 1
        problem = text_problem(text, self.max_chars)
        if problem is None and id is not None and not isinstance(id, (str, int)):
            problem = "wrong_type"
        if problem is None and url is not None and not isinstance(url, str):
            problem = "wrong_type"
        if problem is not None:
            self.dropped[problem] += 1
            return False
        self.columns["id"].append(str(id))
        self.columns["text"].append(text)
        self.columns["source"].append(source)
        self.columns["url"].append(url)
        self.columns["lang"].append(lang if isinstance(lang, str) and lang else detect(text))
        self.columns["meta"].append(json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None)
        self.kept += 1
        return True

    def finish(self) -> tuple[pa.Table, Stats]:
        table = pa.table(self.columns, schema=DOCUMENTS)
        stats = self._stats(table.num_rows)
        add_document_stats(table, stats)
        return table, stats


def add_document_stats(table: pa.Table, stats: Stats) -> None:
    """Language counts and the character-length histogram of a documents table."""
    stats.lang.update(Counter(table.column("lang").to_pylist()))
    lengths = pa.compute.utf8_length(table.column("text")).to_numpy(zero_copy_only=False)
    stats.add_histogram("length_chars", np.asarray(lengths))
