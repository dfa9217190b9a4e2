"""Validating raw records into `documents` rows; every rejected record is counted under a reason."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from dataprep.dataset.schemas import DOCUMENTS
from dataprep.dataset.stats import Stats
from dataprep.filters.batch import Batch
from dataprep.filters.language import merge_meta
from dataprep.filters.text_checks import MAX_DOC_CHARS, TextCheckParams, TextChecks
from dataprep.langid import identify
from dataprep.sources.builder import RecordBuilder

__all__ = ["MAX_DOC_CHARS", "DocumentBuilder", "add_document_stats", "decode_utf8", "text_problem"]


def decode_utf8(raw: bytes) -> Optional[str]:
    """The text of UTF-8 bytes (a leading byte-order mark dropped), or None when they are not UTF-8."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None


def text_checks(max_chars: int = MAX_DOC_CHARS) -> TextChecks:
    """Ingest's checks (empty_text, too_large, binary_content) as the filter `dataprep filter` runs too."""
    return TextChecks(thresholds={"default": TextCheckParams(max_chars=max_chars)})


def text_problem(text: Any, max_chars: int = MAX_DOC_CHARS) -> Optional[str]:
    """The reason to reject one document's text, or None when it is usable (DocumentBuilder checks whole batches)."""
    if not isinstance(text, str):
        return "wrong_type"
    return text_checks(max_chars).apply(Batch(pa.table({"text": [text]}))).reason[0]


class DocumentBuilder(RecordBuilder):
    """Accumulates documents column by column and counts the rejected ones.

    `add` rejects records of the wrong type at once; the text checks and language identification run on the whole
    batch in `finish`, so `add` returning True means "accepted for checking".
    """

    def __init__(self, stage: str = "ingest", max_chars: int = MAX_DOC_CHARS):
        super().__init__(stage, max_chars)
        self.columns: dict[str, list] = {name: [] for name in DOCUMENTS.names}

    def add(self, id: Any, text: Any, source: str, url: Any = None, lang: Any = None, meta: Any = None) -> bool:
        self.seen += 1
        wrong_type = (not isinstance(text, str) or (id is not None and not isinstance(id, (str, int)))
                      or (url is not None and not isinstance(url, str)))
        if wrong_type:
            self.dropped["wrong_type"] += 1
            return False
        self.columns["id"].append(str(id))
        self.columns["text"].append(text)
        self.columns["source"].append(source)
        self.columns["url"].append(url)
        self.columns["lang"].append(lang if isinstance(lang, str) and lang else None)
        self.columns["meta"].append(json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None)
        self.kept += 1
        return True

    def finish(self) -> tuple[pa.Table, Stats]:
        table = pa.table(self.columns, schema=DOCUMENTS)
        result = text_checks(self.max_chars).apply(Batch(table))
        self.dropped.update(Counter(result.reason[~result.keep].tolist()))
        table = _identify_languages(table.filter(pa.array(result.keep)))
        stats = self._stats(table.num_rows)
        add_document_stats(table, stats)
        return table, stats


def _identify_languages(table: pa.Table) -> pa.Table:
    """Rows without a language get dataprep.langid's: `lang` the family, `meta` the score, raw label and top-3."""
    langs = table["lang"].to_pylist()
    missing = [i for i, code in enumerate(langs) if code is None]
    if not missing:
        return table
    found = identify(table["text"].take(pa.array(missing)))
    metas = table["meta"].to_pylist()
    for j, i in enumerate(missing):
        langs[i] = found.lang[j]
        metas[i] = merge_meta(metas[i], found.meta(j))
    table = table.set_column(table.schema.get_field_index("lang"), "lang", pa.array(langs, pa.string()))
    return table.set_column(table.schema.get_field_index("meta"), "meta", pa.array(metas, pa.string()))


def add_document_stats(table: pa.Table, stats: Stats) -> None:
    """Language counts and the character-length histogram of a documents table."""
    stats.lang.update(Counter(code or "und" for code in table.column("lang").to_pylist()))
    lengths = pa.compute.utf8_length(table.column("text")).to_numpy(zero_copy_only=False)
    stats.add_histogram("length_chars", np.asarray(lengths))
