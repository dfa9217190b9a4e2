"""What `str.isalpha` cannot see in Chinese (ChineseWebText, Chen et al. 2023): the share of Han characters, and
repetition measured on characters rather than on words.

`isalpha` is true for every Han character, so Gopher's alphabetic-word rule never fires on Chinese spam; and a
keyword-stuffed page repeats character sequences that a segmenter may cut differently each time.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dataprep.filters.base import Checks, Filter, Params
from dataprep.filters.batch import HAN
from dataprep.filters.ngrams import repeated_weight

_SPACES = np.array([9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F,
                    0x3000, 0xFEFF], np.uint32)


class ChineseParams(Params):
    min_han_share: Optional[float] = 0.3  # Han characters over non-space characters
    max_char_ngram_repetition: Optional[float] = 0.5  # characters inside repeated character n-grams
    char_ngram: int = 13


class ChineseQuality(Filter):
    name = "chinese"
    Params = ChineseParams

    def evaluate(self, batch, checks: Checks) -> None:
        active = checks.active
        codes, owner = characters(batch.text_list, active)
        visible = np.bincount(owner, minlength=checks.n).astype(np.float64)
        share = batch.count(HAN) / np.maximum(visible, 1)
        checks.below("zh_low_han_share", share, checks.param("min_han_share"))
        limit = checks.param("max_char_ngram_repetition")
        sizes = checks.param("char_ngram")
        for n in sorted({int(s) for s in sizes[~np.isnan(sizes)]}):
            covered = repeated_weight(codes, owner, np.ones(len(codes)), [n], checks.n)[n]
            rows = sizes == n
            checks.above(f"zh_char_{n}gram_repetition", np.where(rows, covered / np.maximum(visible, 1), np.nan),
                         limit)


def characters(texts: list[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code points of the non-space characters of the selected documents, flat, with each one's document index."""
    chosen = np.flatnonzero(rows)
    parts = [np.frombuffer(texts[i].encode("utf-32-le"), np.uint32) for i in chosen]
    if not parts:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    codes = np.concatenate(parts)
    owner = np.repeat(chosen, [len(p) for p in parts])
    keep = ~np.isin(codes, _SPACES)
    return codes[keep], owner[keep]
