"""URL filter (RefinedWeb's, as datatrove ships it): blocked domains and URLs, banned words in the URL.

Default lists: RefinedWeb's banned words, soft-banned words (two or more drop the page) and banned sub-words, as shipped
in datatrove's assets (dataprep/filters/lists/SOURCES.md). No domain list ships (the UT1 blocklists datatrove uses
hold millions of domains): `--url-blocklist FILE` or `blocklist_file:` adds a user's list, one domain (which blocks
its subdomains too) or full URL per line. Documents without a URL pass.
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.filters.base import Checks, Filter, Options
from dataprep.filters.wordlists import from_file, shipped

HOST = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*)"


class UrlOptions(Options):
    blocklist_file: Optional[str] = None  # a user's domains and URLs, one per line
    banned_words: Optional[str] = "url_banned_words"  # shipped list: one of these words in the URL drops the page
    soft_banned_words: Optional[str] = "url_soft_banned_words"
    soft_word_threshold: Optional[int] = 2  # this many different soft-banned words drop the page
    banned_subwords: Optional[str] = "url_banned_subwords"  # substrings of the URL's letters and digits


class UrlFilter(Filter):
    name = "url"
    Options = UrlOptions
    per_language = False

    def __init__(self, options=None, thresholds=None):
        super().__init__(options, thresholds)
        self.domains, self.urls = set(), set()
        if self.options.blocklist_file:
            for entry in from_file(self.options.blocklist_file):
                if "/" in entry:
                    self.urls.add(entry)
                else:
                    self.domains.add(entry.lower().strip("."))

    def evaluate(self, batch, checks: Checks) -> None:
        if "url" not in batch.table.column_names:
            return
        urls = pc.fill_null(batch.table["url"].combine_chunks(), "")
        if self.domains or self.urls:
            hosts = pc.struct_field(pc.extract_regex(urls, HOST), "host")
            hosts = pc.utf8_lower(pc.fill_null(hosts, "")).to_pylist()
            blocked = np.array([_blocked(host, self.domains) for host in hosts], bool)
            checks.fail("url_blocked_domain", blocked, 1.0, 0.0)
            if self.urls:
                exact = pc.is_in(urls, value_set=pa.array(sorted(self.urls), urls.type))
                checks.fail("url_blocked_url", exact.to_numpy(zero_copy_only=False), 1.0, 0.0)
        lowered = pc.utf8_lower(urls)
        words = pc.split_pattern_regex(lowered, r"[^a-z0-9]+")
        flat, owner = pc.list_flatten(words), pc.list_parent_indices(words).to_numpy()
        o = self.options
        if o.banned_words:
            hard = _per_row(flat, owner, _lexicon(o.banned_words), checks.n)
            checks.above("url_banned_word", hard, np.zeros(checks.n))
        if o.soft_banned_words and o.soft_word_threshold is not None:
            soft = _per_row(flat, owner, _lexicon(o.soft_banned_words), checks.n, distinct=True)
            checks.fail("url_soft_banned_words", soft >= o.soft_word_threshold, soft, float(o.soft_word_threshold))
        if o.banned_subwords:
            letters = pc.replace_substring_regex(lowered, r"[^a-z0-9]+", "")
            hit = pc.match_substring_regex(letters, _alternation(o.banned_subwords)).to_numpy(zero_copy_only=False)
            checks.fail("url_banned_subword", hit, 1.0, 0.0)


def _blocked(host: str, domains: set) -> bool:
    parts = host.split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts)))


def _per_row(flat: pa.Array, owner: np.ndarray, words: pa.Array, n: int, distinct: bool = False) -> np.ndarray:
    hit = pc.is_in(flat, value_set=words.cast(flat.type)).to_numpy(zero_copy_only=False)
    if not distinct:
        return np.bincount(owner, weights=hit, minlength=n)
    ids = pc.dictionary_encode(flat).indices.to_numpy().astype(np.int64)
    pairs = np.unique(np.stack([owner[hit], ids[hit]]), axis=1) if hit.any() else np.zeros((2, 0), np.int64)
    return np.bincount(pairs[0], minlength=n).astype(np.float64)


@functools.lru_cache(maxsize=None)
def _lexicon(name: str) -> pa.Array:
    """A shipped word list normalised like URL words: lower case, letters and digits only (RefinedWeb's rule)."""
    return pa.array(sorted({"".join(c for c in w.lower() if c.isascii() and c.isalnum()) for w in shipped(name)}
                           - {""}))


@functools.lru_cache(maxsize=None)
def _alternation(name: str) -> str:
    return "|".join(_lexicon(name).to_pylist())
