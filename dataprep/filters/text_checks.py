"""Ingest's own checks as a filter: empty text, a document too large to be prose, binary content."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow.compute as pc

from dataprep.filters.base import Checks, Filter, Params

MAX_DOC_CHARS = 1_000_000  # longer "documents" are dumps, logs or binary blobs, not prose
BINARY_SAMPLE_CHARS = 20_000
# Control characters other than tab/newline/CR: a few are noise, many mean binary content.
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
# U+FFFD is what undecodable bytes became upstream: binary decoded as text is full of it, while a page that lost its
# emoji holds a few percent (thepaper_2 in tests/data/filters: 32 in 1,441 characters).
REPLACEMENT = "\ufffd"


class TextCheckParams(Params):
    reject_empty: Optional[bool] = True
    max_chars: Optional[int] = MAX_DOC_CHARS
    max_control_fraction: Optional[float] = 0.01  # of the first 20,000 characters; any NUL counts as binary
    max_replacement_fraction: Optional[float] = 0.1  # U+FFFD in the first 20,000 characters


class TextChecks(Filter):
    name = "text_checks"
    Params = TextCheckParams

    def evaluate(self, batch, checks: Checks) -> None:
        n_chars = batch.n_chars.astype(np.float64)
        blank = pc.utf8_length(pc.utf8_trim_whitespace(batch.texts)).to_numpy(zero_copy_only=False) == 0
        empty_on = checks.param("reject_empty")
        checks.fail("empty_text", blank & (empty_on == 1), n_chars, np.zeros(checks.n))
        checks.above("too_large", n_chars, checks.param("max_chars"))
        sample = pc.utf8_slice_codeunits(batch.texts, 0, BINARY_SAMPLE_CHARS)
        control = pc.count_substring_regex(sample, CONTROL).to_numpy(zero_copy_only=False).astype(np.float64)
        nul = pc.count_substring(sample, "\x00").to_numpy(zero_copy_only=False) > 0
        sample_chars = np.maximum(pc.utf8_length(sample).to_numpy(zero_copy_only=False), 1)
        fraction = np.where(nul, 1.0, control / sample_chars)
        checks.above("binary_content", fraction, checks.param("max_control_fraction"))
        replaced = pc.count_substring(sample, REPLACEMENT).to_numpy(zero_copy_only=False) / sample_chars
        checks.above("binary_content", replaced, checks.param("max_replacement_fraction"))
