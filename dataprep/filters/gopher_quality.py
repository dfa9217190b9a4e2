"""Gopher's quality rules (Rae et al. 2021, as datatrove implements them): document length in words, mean word
length, symbol-to-word ratios, bullet and ellipsis lines, words with a letter, stop words.

Words are the batch's shared words: whitespace-separated tokens as in the Gopher paper (datatrove splits punctuation
off with spaCy, which drops 5 of the 21 English gold pages on the alphabetic-words rule alone), rjieba's tokens for
Chinese as in FineWeb-2. Symbol-only tokens count in the ratios' denominator. Stop words match with the punctuation
around a word trimmed and in lower case.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.filters.base import Checks, Filter, Params
from dataprep.filters.punctuation import BULLET_START, ELLIPSIS, ELLIPSIS_END

WORD_EDGE_PUNCT = "\"'()[]{}<>.,;:!?-\u2018\u2019\u201c\u201d\u2026\u3001\u3002\uff0c\uff01\uff1f\uff1a\uff1b"
GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


class GopherQualityParams(Params):
    min_doc_words: Optional[int] = 50
    max_doc_words: Optional[int] = 100_000
    min_avg_word_length: Optional[float] = 3
    max_avg_word_length: Optional[float] = 10
    max_symbol_word_ratio: Optional[float] = 0.1  # '#' and '...' each, per word
    max_bullet_lines_ratio: Optional[float] = 0.9
    max_ellipsis_lines_ratio: Optional[float] = 0.3
    min_alpha_words_ratio: Optional[float] = 0.8  # datatrove's `max_non_alpha_words_ratio`
    min_stop_words: Optional[int] = 2  # distinct stop words present
    stop_words: list[str] = GOPHER_STOP_WORDS


class GopherQuality(Filter):
    name = "gopher_quality"
    Params = GopherQualityParams

    def evaluate(self, batch, checks: Checks) -> None:
        words = batch.words
        n_words = words.counts.astype(np.float64)
        n_tokens = np.maximum(n_words + words.symbols, 1)
        checks.below("gopher_short_doc", n_words, checks.param("min_doc_words"))
        checks.above("gopher_long_doc", n_words, checks.param("max_doc_words"))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_length = words.per_doc(words.lengths) / n_words
        checks.below("gopher_below_avg_word_length", mean_length, checks.param("min_avg_word_length"))
        checks.above("gopher_above_avg_word_length", mean_length, checks.param("max_avg_word_length"))
        ratio = checks.param("max_symbol_word_ratio")
        checks.above("gopher_too_many_hashes", batch.count("#") / n_tokens, ratio)
        checks.above("gopher_too_many_ellipsis", batch.count(ELLIPSIS) / n_tokens, ratio)

        lines = batch.lines
        flat = pc.list_flatten(lines)
        owner = pc.list_parent_indices(lines).to_numpy()
        n_lines = np.maximum(pc.list_value_length(lines).to_numpy(zero_copy_only=False), 1)

        def line_share(pattern: str) -> np.ndarray:
            hits = pc.match_substring_regex(flat, pattern).to_numpy(zero_copy_only=False)
            return np.bincount(owner, weights=hits, minlength=checks.n) / n_lines

        checks.above("gopher_too_many_bullets", line_share(BULLET_START), checks.param("max_bullet_lines_ratio"))
        checks.above("gopher_too_many_end_ellipsis", line_share(ELLIPSIS_END), checks.param("max_ellipsis_lines_ratio"))

        alpha = pc.match_substring_regex(words.flat, r"\p{L}").to_numpy(zero_copy_only=False)
        checks.below("gopher_below_alpha_threshold", words.per_doc(alpha) / n_tokens,
                     checks.param("min_alpha_words_ratio"))
        checks.below("gopher_too_few_stop_words", self._stop_words(batch, checks),
                     checks.param("min_stop_words"))

    def _stop_words(self, batch, checks: Checks) -> np.ndarray:
        """Distinct stop words per document, each row against its own language's list."""
        words = batch.words
        found = np.zeros(checks.n)
        if not len(words.flat):
            return found
        lowered = pc.utf8_trim(pc.utf8_lower(words.flat), WORD_EDGE_PUNCT)
        lowered_ids = pc.dictionary_encode(lowered).indices.to_numpy()
        row_lists = {}
        for code in set(batch.lang):
            section = checks.section(code)
            if section is not None and section.min_stop_words is not None:
                row_lists.setdefault(tuple(sorted(set(section.stop_words))), []).append(code)
        lang = np.array(batch.lang, object)
        for stop_words, codes in row_lists.items():
            rows = np.isin(lang, codes)
            hit = pc.is_in(lowered, value_set=pa.array(list(stop_words), lowered.type)).to_numpy(zero_copy_only=False)
            hit &= rows[words.doc]
            if not hit.any():
                continue
            pairs = np.unique(np.stack([words.doc[hit], lowered_ids[hit]]), axis=1)
            found[rows] = np.bincount(pairs[0], minlength=checks.n)[rows]
        return found
