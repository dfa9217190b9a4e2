"""Text normalization shared by exact and near-duplicate detection.

Steps, all vectorized Arrow kernels over a whole batch:
1. Unicode NFKC (full-width forms, ligatures and compatibility characters fold to their plain form);
2. lowercase;
3. every decimal digit (any script) becomes `0`, so dates and counters do not make copies look distinct;
4. punctuation, symbols and whitespace runs become one space; leading/trailing space is trimmed.
Accents are kept (stripping them would need NFD, which splits Hangul syllables into jamo).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_DIGIT = r"\p{Nd}"
_SEPARATORS = r"[\p{P}\p{S}\p{Z}\s]+"


def normalize(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Normalized copies of `texts` (nulls become empty strings)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    texts = pc.utf8_normalize(texts, "NFKC")
    texts = pc.utf8_lower(texts)
    texts = pc.replace_substring_regex(texts, _DIGIT, "0")
    texts = pc.replace_substring_regex(texts, _SEPARATORS, " ")
    return pc.utf8_trim_whitespace(texts)
