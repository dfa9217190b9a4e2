"""C4's page rules (Raffel et al. 2020; datatrove's C4QualityFilter), for English: a page needs enough sentences in
lines that C4 would keep, and no "lorem ipsum" or curly bracket in them.

The curly-bracket rule is a share of the counted lines (C4: 0, any bracket drops the page), so an article with a code
snippet can pass while a code or JSON dump cannot. C4 deletes lines (no terminal punctuation, under 3 words, a word over 1,000 characters, "javascript", cookie and
terms-of-use notices) and then judges the page on what is left. A filter here never rewrites text, so those lines
are not deleted: they only stop counting. C4's bad-words rule is the separate `bad_words` filter.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.filters.base import Checks, Filter, Params

CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
POLICY = r"terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies"
C4_END = r"[.?!\"']$"
SENTENCE_END = r"[.?!]+[\"'\x{201d}\x{2019})\]]*(\s|$)"


class C4Params(Params):
    min_sentences: Optional[int] = 5
    min_words_per_line: Optional[int] = 3  # shorter lines do not count
    max_word_length: Optional[int] = 1000  # lines with a longer word do not count
    require_terminal_punct: Optional[bool] = True  # lines not ending in . ? ! " ' do not count (FineWeb: off)
    skip_javascript_lines: Optional[bool] = True
    skip_policy_lines: Optional[bool] = True
    lorem_ipsum: Optional[bool] = True
    max_curly_bracket_line_frac: Optional[float] = 0.0  # share of counted lines with a "{" (C4: any one drops)


class C4Quality(Filter):
    name = "c4"
    Params = C4Params

    def evaluate(self, batch, checks: Checks) -> None:
        lines = batch.lines
        owner = pc.list_parent_indices(lines).to_numpy()
        text = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.list_flatten(lines), CITATION, ""))
        rows = lambda name: checks.param(name)[owner]  # noqa: E731 - a per-line view of a per-row threshold

        counted = _enough_words(text, rows("min_words_per_line"))
        long_word = rows("max_word_length")
        candidates = np.flatnonzero(_numpy(pc.utf8_length(text)) > np.nan_to_num(long_word, nan=np.inf))
        for i in candidates:  # rare: only lines longer than the limit can hold such a word
            counted[i] &= max(map(len, text[i].as_py().split())) <= long_word[i]
        terminal = _numpy(pc.match_substring_regex(text, C4_END)) & ~_numpy(pc.ends_with(text, "..."))
        counted &= terminal | (rows("require_terminal_punct") != 1)
        counted &= ~(_numpy(pc.match_substring(text, "javascript", ignore_case=True))
                     & (rows("skip_javascript_lines") == 1))
        counted &= ~(_numpy(pc.match_substring_regex(text, POLICY, ignore_case=True))
                     & (rows("skip_policy_lines") == 1))

        def in_counted(hits: np.ndarray) -> np.ndarray:
            return np.bincount(owner, weights=hits & counted, minlength=checks.n) > 0

        lorem = in_counted(_numpy(pc.match_substring(text, "lorem ipsum", ignore_case=True)))
        checks.fail("c4_lorem_ipsum", lorem & (checks.param("lorem_ipsum") == 1), 1.0, 0.0)
        curly = np.bincount(owner, weights=_numpy(pc.match_substring(text, "{")) & counted, minlength=checks.n)
        n_counted = np.maximum(np.bincount(owner, weights=counted, minlength=checks.n), 1)
        checks.above("c4_curly_bracket", curly / n_counted, checks.param("max_curly_bracket_line_frac"))
        # A counted line holds its sentence ends, or one sentence when it has none (C4 splits lines with punkt).
        sentences = np.maximum(_numpy(pc.count_substring_regex(text, SENTENCE_END)), 1) * counted
        checks.below("c4_too_few_sentences", np.bincount(owner, weights=sentences, minlength=checks.n),
                     checks.param("min_sentences"))


def _enough_words(lines: pa.Array, minimum: np.ndarray) -> np.ndarray:
    """Lines holding at least `minimum` whitespace-separated words (one regex match per distinct minimum)."""
    out = np.ones(len(lines), bool)
    for k in {int(m) for m in minimum[~np.isnan(minimum)] if m > 1}:
        pattern = r"^\s*(\S+\s+){%d}\S" % (k - 1)
        out[minimum == k] = _numpy(pc.match_substring_regex(lines, pattern))[minimum == k]
    return out


def _numpy(array) -> np.ndarray:
    out = array.to_numpy(zero_copy_only=False) if isinstance(array, (pa.Array, pa.ChunkedArray)) else array
    return out.astype(bool) if out.dtype == object else out
