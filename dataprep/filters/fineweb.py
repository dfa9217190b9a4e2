"""FineWeb's rules (Penedo et al. 2024; datatrove's FineWebQualityFilter): enough lines ending in punctuation, not
too many short lines, few characters in duplicated lines, not a list (newlines per word).

Line ends include Chinese ones (。！？ and …」』” closing a sentence), see dataprep.filters.punctuation. Table bars
(`|`) at a line's edges are trimmed first. With `line_punct_anywhere` a line counts when a sentence ends anywhere in
it: a Chinese line is a paragraph, whose last sentence often goes without its full stop.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.filters.base import Checks, Filter, Params
from dataprep.filters.gopher_repetition import repeated
from dataprep.filters.punctuation import LINE_END

# Trafilatura renders table cells as "| cell |": the bars and blanks around a line are layout, not text.
TABLE_EDGES = " \t\r\n\u3000|"
SENTENCE_END_INSIDE = LINE_END.removesuffix("$")


class FineWebParams(Params):
    min_line_punct_ratio: Optional[float] = 0.12
    line_punct_exclude_zero: bool = False  # True: a document with no punctuated line at all passes this rule
    line_punct_anywhere: bool = False  # True: a line counts when it holds a sentence end anywhere, not only last
    max_short_line_ratio: Optional[float] = 0.67
    short_line_chars: int = 30
    max_dup_line_char_ratio: Optional[float] = 0.01
    max_newline_word_ratio: Optional[float] = 0.3


class FineWebQuality(Filter):
    name = "fineweb"
    Params = FineWebParams

    def evaluate(self, batch, checks: Checks) -> None:
        lines = batch.lines
        flat = pc.utf8_trim(pc.list_flatten(lines), TABLE_EDGES)
        owner = pc.list_parent_indices(lines).to_numpy()
        lengths = pc.utf8_length(flat).to_numpy(zero_copy_only=False)
        present = lengths > 0
        owner, lengths, flat = owner[present], lengths[present], flat.filter(pa.array(present))
        n_lines = np.maximum(np.bincount(owner, minlength=checks.n), 1)

        ended = pc.match_substring_regex(flat, LINE_END).to_numpy(zero_copy_only=False)
        inside = pc.match_substring_regex(flat, SENTENCE_END_INSIDE).to_numpy(zero_copy_only=False)
        ended = ended | (inside & (checks.param("line_punct_anywhere")[owner] == 1))
        ratio = np.bincount(owner, weights=ended, minlength=checks.n) / n_lines
        exempt = (ratio == 0) & (checks.param("line_punct_exclude_zero") == 1)
        checks.below("fineweb_line_punct_ratio", np.where(exempt, np.nan, ratio), checks.param("min_line_punct_ratio"))

        short = lengths <= checks.param("short_line_chars")[owner]
        checks.above("fineweb_short_line_ratio", np.bincount(owner, weights=short, minlength=checks.n) / n_lines,
                     checks.param("max_short_line_ratio"))

        ids = pc.dictionary_encode(flat).indices.to_numpy().astype(np.int64) if len(flat) else np.zeros(0, np.int64)
        dup_chars = np.bincount(owner, weights=lengths * repeated(ids, owner), minlength=checks.n)
        newlines = batch.count("\n")
        body = np.maximum(batch.n_chars - newlines, 1)
        checks.above("fineweb_char_dup_ratio", dup_chars / body, checks.param("max_dup_line_char_ratio"))

        words = batch.words
        tokens = np.maximum(words.counts + words.symbols, 1)
        checks.above("fineweb_list_ratio", newlines / tokens, checks.param("max_newline_word_ratio"))
