"""Language filter: identifies every document with dataprep.langid (so `lang` means what ingest meant), rewrites
`lang` (the family code) and `meta` (score, raw label, top-3, Chinese variant), then keeps the languages of a keep-list
whose score reaches the language's threshold."""

from __future__ import annotations

import json
from typing import Optional

import numpy as np
import pyarrow as pa

from dataprep.filters.base import Checks, Filter, Options, Params
from dataprep.langid import identify


class LanguageOptions(Options):
    keep: Optional[list[str]] = ["zh", "en"]  # language family codes to keep; None keeps every language


class LanguageParams(Params):
    min_score: Optional[float] = None


class LanguageFilter(Filter):
    name = "language"
    Params = LanguageParams
    Options = LanguageOptions

    def apply(self, batch):
        found = identify(batch.texts)
        batch.set_lang(found.lang, found.score)
        result = super().apply(batch)
        result.columns = {"lang": pa.array(found.lang, pa.string()),
                          "meta": pa.array(_merge_meta(batch, found), pa.string())}
        return result

    def evaluate(self, batch, checks: Checks) -> None:
        score = batch.lang_score
        if self.options.keep is not None:
            kept = set(self.options.keep)
            checks.fail("lang_not_kept", np.array([code not in kept for code in batch.lang], bool), score, np.nan)
        checks.below("lang_low_score", score, checks.param("min_score"))


def _merge_meta(batch, found) -> list[Optional[str]]:
    metas = batch.table["meta"].to_pylist() if "meta" in batch.table.column_names else [None] * batch.num_rows
    return [merge_meta(raw, found.meta(i)) for i, raw in enumerate(metas)]


def merge_meta(raw: Optional[str], fields: dict) -> str:
    """A document's `meta` JSON with `fields` set; a `meta` that is not a JSON object is kept under the key "meta"."""
    meta: dict = {}
    if raw:
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        meta = value if isinstance(value, dict) else {"meta": value}
    meta.update(fields)
    return json.dumps(meta, ensure_ascii=False, sort_keys=True)
