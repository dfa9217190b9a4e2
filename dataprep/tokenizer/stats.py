"""Token statistics recorded per shard (mergeable counters and histograms) and summarised by `dataprep stats`.

Counters: `tokens`, `masked_tokens` (loss-mask ones), `content_tokens` and `text_bytes` (the text's own tokens
and its UTF-8 bytes, specials excluded), and per language `text_bytes.lang.XX` / `content_tokens.lang.XX`,
whose ratio is the compression (bytes per token). Histogram `tokens_per_row`.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

from dataprep.dataset.stats import Stats

LANG_BYTES = "text_bytes.lang."
LANG_TOKENS = "content_tokens.lang."


def record_token_stats(
    stats: Stats,
    row_tokens: np.ndarray,
    text_bytes: np.ndarray,
    content_tokens: np.ndarray,
    langs: Optional[pa.Array] = None,
    masked_tokens: Optional[int] = None,
) -> None:
    stats.add_histogram("tokens_per_row", row_tokens)
    stats.counters["tokens"] += int(row_tokens.sum())
    stats.counters["text_bytes"] += int(text_bytes.sum())
    stats.counters["content_tokens"] += int(content_tokens.sum())
    if masked_tokens is not None:
        stats.counters["masked_tokens"] += int(masked_tokens)
    if langs is not None and len(langs):
        table = pa.table({"lang": langs, "b": text_bytes, "t": content_tokens})
        grouped = table.group_by("lang").aggregate([("b", "sum"), ("t", "sum"), ("lang", "count")])
        for lang, b, t, rows in zip(*(grouped[c].to_pylist() for c in ("lang", "b_sum", "t_sum", "lang_count"))):
            lang = lang or "und"
            stats.lang[lang] += rows
            stats.counters[LANG_BYTES + lang] += b
            stats.counters[LANG_TOKENS + lang] += t


def token_summary(counters: dict[str, int]) -> dict[str, Any]:
    """Derived figures for `dataprep stats`: masked share and bytes per token, overall and by language."""
    out: dict[str, Any] = {}
    if counters.get("tokens") and "masked_tokens" in counters:
        out["masked_token_share"] = round(counters["masked_tokens"] / counters["tokens"], 4)
    if counters.get("content_tokens"):
        by_lang = {"all": round(counters.get("text_bytes", 0) / counters["content_tokens"], 3)}
        for key, value in sorted(counters.items()):
            if key.startswith(LANG_BYTES):
                lang = key[len(LANG_BYTES):]
                tokens = counters.get(LANG_TOKENS + lang, 0)
                if tokens:
                    by_lang[lang] = round(value / tokens, 3)
        out["bytes_per_token"] = by_lang
    return out
