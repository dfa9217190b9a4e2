"""Gopher's repetition rules (Rae et al. 2021, table A1): duplicate lines and paragraphs and the characters in them,
the most frequent 2-4-gram's share of the characters, and the characters inside repeated 5-10-grams.

n-grams are over the batch's shared words (rjieba for Chinese) and hashed for the whole batch at once
(dataprep.filters.ngrams). Character shares count the words' characters (no separators) over the document's length.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.filters.base import Checks, Filter, Params
from dataprep.filters.ngrams import repeated_weight, top_ngram_weight


class GopherRepetitionParams(Params):
    dup_line_frac: Optional[float] = 0.3
    dup_para_frac: Optional[float] = 0.3
    dup_line_char_frac: Optional[float] = 0.2
    dup_para_char_frac: Optional[float] = 0.2
    top_ngram_char_frac: dict[int, Optional[float]] = {2: 0.2, 3: 0.18, 4: 0.16}
    dup_ngram_char_frac: dict[int, Optional[float]] = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


class GopherRepetition(Filter):
    name = "gopher_repetition"
    Params = GopherRepetitionParams

    def evaluate(self, batch, checks: Checks) -> None:
        n_chars = np.maximum(batch.n_chars.astype(np.float64), 1)
        paragraphs = pc.split_pattern_regex(batch.texts, r"\n\s*\n")
        count, chars = duplicates(paragraphs, checks.n)
        checks.above("gopher_dup_para_frac", count.share, checks.param("dup_para_frac"))
        checks.above("gopher_dup_para_char_frac", chars / n_chars, checks.param("dup_para_char_frac"))
        count, chars = duplicates(batch.lines, checks.n)
        checks.above("gopher_dup_line_frac", count.share, checks.param("dup_line_frac"))
        checks.above("gopher_dup_line_char_frac", chars / n_chars, checks.param("dup_line_char_frac"))

        words = batch.words
        top = ngram_thresholds(checks, "top_ngram_char_frac")
        for n, weight in top_ngram_weight(words.ids, words.doc, words.lengths, top, checks.n).items():
            checks.above(f"gopher_top_{n}_gram", weight / n_chars, top[n])
        dup = ngram_thresholds(checks, "dup_ngram_char_frac")
        for n, weight in repeated_weight(words.ids, words.doc, words.lengths, dup, checks.n).items():
            checks.above(f"gopher_dup_{n}_gram", weight / n_chars, dup[n])


class Shares:
    def __init__(self, repeated: np.ndarray, total: np.ndarray):
        self.share = repeated / np.maximum(total, 1)


def duplicates(pieces: pa.ListArray, num_docs: int) -> tuple[Shares, np.ndarray]:
    """Per document: the share of its non-blank pieces (lines, paragraphs) that repeat an earlier one, and the
    characters in those repeats."""
    flat = pc.utf8_trim_whitespace(pc.list_flatten(pieces))
    owner = pc.list_parent_indices(pieces).to_numpy()
    lengths = pc.utf8_length(flat).to_numpy(zero_copy_only=False)
    present = lengths > 0
    owner, lengths = owner[present], lengths[present]
    ids = pc.dictionary_encode(flat.filter(pa.array(present))).indices.to_numpy().astype(np.int64)
    repeat = repeated(ids, owner)
    total = np.bincount(owner, minlength=num_docs)
    shares = Shares(np.bincount(owner, weights=repeat, minlength=num_docs), total)
    return shares, np.bincount(owner, weights=lengths * repeat, minlength=num_docs)


def repeated(ids: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """True for each item equal to an earlier item of the same document."""
    if not len(ids):
        return np.zeros(0, bool)
    key = owner.astype(np.int64) * (int(ids.max()) + 1) + ids
    _, first = np.unique(key, return_index=True)
    out = np.ones(len(ids), bool)
    out[first] = False
    return out


def ngram_thresholds(checks: Checks, field: str) -> dict[int, np.ndarray]:
    """Per n, the per-row threshold of a {n: fraction} field (NaN where off); sizes off for every row are left out."""
    sizes: dict[int, np.ndarray] = {}
    lang = checks.batch.lang
    for code in set(lang):
        section = checks.section(code)
        for n, value in (getattr(section, field) if section is not None else {}).items():
            if value is not None:
                rows = np.array([c == code for c in lang], bool)
                sizes.setdefault(n, np.full(checks.n, np.nan))[rows] = value
    return dict(sorted(sizes.items()))
