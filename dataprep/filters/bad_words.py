"""C4's bad-words rule, per language, with a count instead of C4's "any one word drops the page".

C4 drops a page holding any word of the LDNOOBW list; on the 21 English gold pages that drops a fiction chapter, a
music essay and a blog post (one or two words each: "sexy", "bitch", "fuck"), which is why FineWeb left the rule out.
Here a page is dropped when it holds more than `max_distinct` different list entries (C4: 0). English entries match
as whole words; Chinese ones as substrings of two or more characters (there are no spaces to bound them), minus an
allow-list of everyday words. One RE2 pass over the batch finds the candidate documents; only those are searched
entry by entry.
"""

from __future__ import annotations

import functools
import re
from typing import Optional

import numpy as np
import pyarrow.compute as pc

from dataprep.filters.base import Checks, Filter, Params
from dataprep.filters.wordlists import shipped

# Everyday Chinese words in LDNOOBW's zh list: 性 (datatrove allows it too), 成人 (adult: 成人教育 adult education,
# 长大成人 to grow up; four times in one chapter of the Analects).
ALLOWED = {"zh": {"性", "成人"}}
UNBOUNDED = {"zh", "ja", "th"}  # scripts without spaces between words


class BadWordsParams(Params):
    word_list: Optional[str] = None  # a shipped list (`ldnoobw_en`, `ldnoobw_zh`); None: rule off
    max_distinct: Optional[int] = 0  # most different entries a page may hold


class BadWords(Filter):
    name = "bad_words"
    Params = BadWordsParams

    def evaluate(self, batch, checks: Checks) -> None:
        found = np.zeros(checks.n)
        lang = batch.lang
        lists = {}
        for code in set(lang):
            section = checks.section(code)
            if section is not None and section.word_list and section.max_distinct is not None:
                lists.setdefault((section.word_list, code in UNBOUNDED, code), []).append(code)
        lowered = None
        for (name, unbounded, code), codes in lists.items():
            rows = np.flatnonzero(np.isin(np.array(lang, object), codes))
            prefilter, pattern = _patterns(name, unbounded, frozenset(ALLOWED.get(code, ())))
            if lowered is None:
                lowered = pc.utf8_lower(batch.texts)
            sub = lowered.take(rows)
            candidates = pc.match_substring_regex(sub, prefilter).to_numpy(zero_copy_only=False)
            for j in np.flatnonzero(candidates):
                found[rows[j]] = len(set(pattern.findall(sub[j].as_py())))
        checks.above("bad_words", found, checks.param("max_distinct"))


@functools.lru_cache(maxsize=None)
def _patterns(name: str, unbounded: bool, allowed: frozenset) -> tuple[str, re.Pattern]:
    """An RE2 prefilter that finds every page the exact Python pattern matches (and maybe a few more)."""
    words = sorted({w.lower() for w in shipped(name) if w.lower() not in allowed and (not unbounded or len(w) >= 2)},
                   key=lambda w: (-len(w), w))
    alternation = "|".join(_escape(w) for w in words)
    if unbounded:
        return alternation, re.compile(alternation)
    # RE2's \b is ASCII-only: around an entry that starts and ends with an ASCII letter or digit it passes every page
    # the exact pattern matches (and a few more); other entries (an emoji) are looked for anywhere.
    edged = [w for w in words if w[0].isascii() and w[0].isalnum() and w[-1].isascii() and w[-1].isalnum()]
    others = [w for w in words if w not in set(edged)]
    prefilter = "\\b(?:" + "|".join(_escape(w) for w in edged) + ")\\b"
    if others:
        prefilter += "|" + "|".join(_escape(w) for w in others)
    return prefilter, re.compile(f"(?<!\\w)(?:{alternation})(?!\\w)")


def _escape(word: str) -> str:
    """Escape regex metacharacters only, so the result means the same to RE2 and to Python's re."""
    return "".join("\\" + c if c in _META else c for c in word)


_META = set("\\.^$|?*+()[]{}")
