"""Extraction quality on reference pages: English gold snippets and Chinese pages with GNE's silver text.

English (trafilatura's evaluation data): each page lists snippets that must appear in the main text and
snippets that must not (navigation, footers, comments). Chinese (GeneralNewsExtractor's test pages): the
share of GNE's content character bigrams that the extraction contains, and which navigation phrases leaked.
Used by the tests (quality bars) and `benchmarks/bench_extract.py` (the extractor table).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

NAV_PHRASES_ZH = ("首页", "网站地图", "版权所有", "上一篇", "下一篇")


@dataclass
class GoldPage:
    name: str
    html: bytes
    must_include: list[str]
    must_exclude: list[str]


@dataclass
class SilverPage:
    name: str
    html: bytes
    silver: str


def load_gold(folder: Path) -> list[GoldPage]:
    entries = json.loads((folder / "evaldata_subset.json").read_text(encoding="utf-8"))
    return [
        GoldPage(e["file"], (folder / e["file"]).read_bytes(), e.get("with", []), e.get("without", []))
        for _, e in sorted(entries.items())
    ]


def load_silver(folder: Path) -> list[SilverPage]:
    """Pages with GNE's content; a hand-cut `main` replaces it where GNE took in the page's furniture."""
    entries = json.loads((folder / "gne_silver.json").read_text(encoding="utf-8"))
    return [SilverPage(name, (folder / name).read_bytes(), e.get("main", e["content"])) for name, e in sorted(entries.items())]


def _spaces(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def snippet_shares(pages: list[GoldPage], extract: Callable[[bytes], str]) -> dict:
    """Share of must-include snippets found and of must-exclude snippets absent, over all pages."""
    found = absent = includes = excludes = 0
    misses: list[str] = []
    for page in pages:
        text = _spaces(extract(page.html))
        for snippet in page.must_include:
            includes += 1
            hit = _spaces(snippet) in text
            found += hit
            if not hit:
                misses.append(f"{page.name}: missing {snippet!r}")
        for snippet in page.must_exclude:
            excludes += 1
            hit = _spaces(snippet) in text
            absent += not hit
            if hit:
                misses.append(f"{page.name}: kept {snippet!r}")
    return {"must_include": found / includes, "must_exclude": absent / excludes, "misses": misses}


def bigrams(text: str) -> set[str]:
    """Character bigrams after NFKC folding (full-width punctuation = ASCII) with whitespace removed."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    return {text[i : i + 2] for i in range(len(text) - 1)}


def silver_scores(pages: list[SilverPage], extract: Callable[[bytes], str]) -> list[dict]:
    """Per page: share of the silver's bigrams present, and the navigation phrases left in the extraction."""
    out = []
    for page in pages:
        text = extract(page.html)
        silver = bigrams(page.silver)
        coverage = len(silver & bigrams(text)) / max(1, len(silver))
        out.append({"page": page.name, "coverage": coverage, "nav": [p for p in NAV_PHRASES_ZH if p in text],
                    "chars": len(text)})
    return out


def char_ngrams(text: str, n: int = 5) -> set[str]:
    """Character n-grams of a text with whitespace runs read as one space."""
    text = _spaces(text)
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def char_ngram_jaccard(a: str, b: str, n: int = 5) -> float:
    """Jaccard similarity of the character n-gram sets of two texts."""
    x, y = char_ngrams(a, n), char_ngrams(b, n)
    return len(x & y) / max(1, len(x | y))


def char_ngram_containment(part: str, whole: str, n: int = 5) -> float:
    """Share of `part`'s character n-grams found in `whole`."""
    x = char_ngrams(part, n)
    return len(x & char_ngrams(whole, n)) / max(1, len(x))
