"""Text normalization shared by exact and near-duplicate detection, as per-codepoint lookup tables.

For every codepoint (built from U+0000..U+2FFFF; higher planes pass through as word characters):
1. NFKC folding, where it maps one character to one character (full-width Latin and digits, half-width
   Katakana, compatibility ideographs, ...); multi-character expansions such as ligatures are left as they are;
2. lowercase (single-character mappings);
3. every decimal digit of any script becomes `0`, so dates, prices and counters do not make copies look distinct;
4. punctuation, symbols, separators and control characters are separators (whitespace).

Each codepoint also gets a class: separator, word character, or CJK (Han, Hiragana, Katakana, Hangul), which
`shingles.tokenize` uses to cut tokens. Tables are built once per process (about 0.3 s) from `unicodedata`,
so the result depends only on Python's Unicode version. The normalized text of a document is its tokens
joined by single spaces (`normalize_text`), which is what exact deduplication compares.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np

TABLE_SIZE = 0x110000  # every codepoint: one gather per lookup, no range checks
BUILT_BELOW = 0x30000  # above this (planes 3-16: rare ideographs, private use) codepoints map to themselves
SEPARATOR, WORD, CJK = 0, 1, 2
_CJK_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC")


def _is_cjk(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    return unicodedata.category(ch) == "Lo" and name.startswith(_CJK_SCRIPTS) or ch == "\u30fc"


@functools.lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray]:
    """(mapping, classes): the folded codepoint and the class of every codepoint (5.5 MB per process)."""
    mapping = np.arange(TABLE_SIZE, dtype=np.uint32)
    classes = np.full(TABLE_SIZE, WORD, dtype=np.uint8)
    for cp in range(BUILT_BELOW):
        if 0xD800 <= cp < 0xE000:
            classes[cp] = SEPARATOR
            continue
        ch = chr(cp)
        folded = unicodedata.normalize("NFKC", ch).lower()
        if len(folded) == 1:
            ch = folded
        category = unicodedata.category(ch)
        if category == "Nd":
            ch = "0"
        elif category[0] in "PSZC" or ch.isspace():
            classes[cp] = SEPARATOR
        elif _is_cjk(ch):
            classes[cp] = CJK
        mapping[cp] = ord(ch)
    return mapping, classes


def fold(codepoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Folded codepoints and their classes, for a uint32 codepoint array."""
    mapping, classes = tables()
    return mapping[codepoints], classes[codepoints]


def normalize_text(text: str) -> str:
    """The normalized form of one text: its tokens joined by single spaces (reference and inspection)."""
    if not text:
        return ""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    folded, cls = fold(cps)
    out, word = [], []
    for cp, c in zip(folded.tolist(), cls.tolist()):
        if c == WORD:
            word.append(chr(cp))
            continue
        if word:
            out.append("".join(word))
            word = []
        if c == CJK:
            out.append(chr(cp))
    if word:
        out.append("".join(word))
    return " ".join(out)
