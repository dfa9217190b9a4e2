"""Language identification with py3langid, whose model ships inside the package (no download)."""

from __future__ import annotations

import functools

SAMPLE_CHARS = 2000  # the first characters decide; whole documents cost time and rarely change the answer


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)


def detect(text: str) -> str:
    """ISO 639-1 code of the text's language, or 'und' for text with no letters."""
    sample = text[:SAMPLE_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return "und"
    lang, _ = _identifier().classify(sample)
    return lang
