"""A batch of documents plus the features its filters share, each computed once and only when a filter asks.

Words are the expensive one: Chinese documents are segmented by rjieba (jieba's Rust port: same dictionary,
~10x faster than jieba on this machine), every other language is split on whitespace by one Arrow kernel over the
whole batch. Every filter of the batch then reads the same words. When a filter drops rows,
the survivors' Batch carries every computed feature over (`subset`), so nothing is segmented twice.

Features are row-aligned (numpy arrays, Python lists or Arrow arrays of one entry per document); list-valued ones
(words, lines) are Arrow ListArrays, which `take` subsets natively.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEGMENTED = {"zh"}  # languages whose words come from a segmenter, not from spaces
HAN = r"\p{Han}"


def feature(fn: Callable[["Batch"], Any]) -> property:
    """A lazily computed, cached, row-aligned feature."""
    name = fn.__name__

    @functools.wraps(fn)
    def get(self: "Batch"):
        if name not in self._cache:
            self._cache[name] = fn(self)
        return self._cache[name]

    return property(get)


class Words:
    """Each document's words (tokens with a letter or digit) and its count of symbol tokens (punctuation)."""

    def __init__(self, words: pa.ListArray, symbols: np.ndarray):
        self.words = words
        self.symbols = symbols

    def take(self, indices: np.ndarray) -> "Words":
        return Words(self.words.take(pa.array(indices)), self.symbols[indices])

    @functools.cached_property
    def flat(self) -> pa.Array:
        return pc.list_flatten(self.words)

    @functools.cached_property
    def doc(self) -> np.ndarray:
        return pc.list_parent_indices(self.words).to_numpy().astype(np.int64)

    @functools.cached_property
    def counts(self) -> np.ndarray:
        return pc.list_value_length(self.words).to_numpy(zero_copy_only=False).astype(np.int64)

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        return pc.utf8_length(self.flat).to_numpy(zero_copy_only=False).astype(np.float64)

    @functools.cached_property
    def ids(self) -> np.ndarray:
        """Batch-wide integer id of each word (equal words, equal ids)."""
        if len(self.flat) == 0:
            return np.zeros(0, np.int64)
        return pc.dictionary_encode(self.flat).indices.to_numpy().astype(np.int64)

    def per_doc(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.doc, weights=values, minlength=len(self.counts))


class Batch:
    def __init__(self, table: pa.Table, cache: Optional[dict[str, Any]] = None):
        self.table = table.combine_chunks()
        self.num_rows = self.table.num_rows
        self._cache: dict[str, Any] = dict(cache or {})

    def subset(self, keep: np.ndarray) -> "Batch":
        """The rows where `keep` holds, with every feature computed so far."""
        indices = np.flatnonzero(keep)
        taken = {name: _take(value, indices) for name, value in self._cache.items()}
        return Batch(self.table.take(pa.array(indices)), taken)

    def with_columns(self, columns: dict[str, pa.Array]) -> "Batch":
        """The batch with rewritten columns; features of rewritten text are recomputed when next asked for."""
        table = self.table
        for name, column in columns.items():
            index = table.schema.get_field_index(name)
            field = table.schema.field(name)
            table = table.set_column(index, field, column.cast(field.type))
        cache = dict(self._cache)
        if "text" in columns:  # text features are stale; the language decided for the old text stands
            cache = {k: v for k, v in cache.items() if k in ("lang", "lang_score")}
        return Batch(table, cache)

    def set_lang(self, lang: list[str], score: Optional[np.ndarray] = None) -> None:
        """Languages decided by the language filter (before its rewritten `lang` column reaches the table)."""
        self._cache["lang"] = list(lang)
        self._cache["lang_score"] = np.full(len(lang), np.nan) if score is None else np.asarray(score, np.float64)
        self._cache.pop("words", None)  # segmentation depends on the language

    # -- features ---------------------------------------------------------------------------------------------
    @feature
    def texts(self) -> pa.Array:
        return pc.fill_null(self.table["text"].combine_chunks(), "")

    @feature
    def text_list(self) -> list[str]:
        return self.texts.to_pylist()

    @feature
    def n_chars(self) -> np.ndarray:
        return _numpy(pc.utf8_length(self.texts))

    @feature
    def lang(self) -> list[str]:
        if "lang" not in self.table.column_names:
            return ["und"] * self.num_rows
        return pc.fill_null(self.table["lang"].combine_chunks(), "und").to_pylist()

    @feature
    def lang_score(self) -> np.ndarray:
        """Set by the language filter; unknown (NaN) before it ran."""
        return np.full(self.num_rows, np.nan)

    @feature
    def lines(self) -> pa.ListArray:
        """Lines split on `\\n`, trailing whitespace (and `\\r`) removed."""
        lines = pc.split_pattern(self.texts, "\n")
        return _map_values(lines, pc.utf8_rtrim_whitespace(pc.list_flatten(lines)))

    @feature
    def words(self) -> Words:
        return segment(self.texts, self.lang)

    def count(self, pattern: str) -> np.ndarray:
        """Matches of a regex (RE2 syntax) per document, one vectorized pass."""
        return _numpy(pc.count_substring_regex(self.texts, pattern))


def segment(texts: pa.Array, lang: list[str]) -> Words:
    """Words of every document: rjieba's tokens for Chinese, whitespace-separated tokens for the rest (Gopher's
    words: punctuation stays attached, so "(e.g." is a word with letters). Tokens without a letter or digit are
    symbols: counted, not kept as words."""
    n = len(texts)
    zh = np.array([code in SEGMENTED for code in lang], bool)
    parts, owners = [], []
    other = np.flatnonzero(~zh)
    if len(other):
        runs = pc.utf8_split_whitespace(texts.take(pa.array(other)))
        parts.append(pc.list_flatten(runs))
        owners.append(other[_numpy(pc.list_parent_indices(runs))])
    chinese = np.flatnonzero(zh)
    if len(chinese):
        import rjieba

        tokens = [rjieba.cut(text) for text in texts.take(pa.array(chinese)).to_pylist()]
        sizes = np.fromiter((len(t) for t in tokens), np.int64, len(tokens))
        parts.append(pa.array([tok for doc in tokens for tok in doc], pa.string()))
        owners.append(np.repeat(chinese, sizes))
    if not parts:
        return Words(pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string())),
                     np.zeros(n, np.int64))
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    owner = owner[order]
    tokens = pa.concat_arrays([p.cast(pa.string()) for p in parts]).take(pa.array(order))
    is_word = _numpy(pc.match_substring_regex(tokens, r"[\p{L}\p{N}]")).astype(bool)
    is_space = _numpy(pc.equal(pc.utf8_trim_whitespace(tokens), "")).astype(bool)
    symbols = np.bincount(owner[~is_word & ~is_space], minlength=n)
    counts = np.bincount(owner[is_word], minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return Words(pa.ListArray.from_arrays(pa.array(offsets), tokens.filter(pa.array(is_word))), symbols)


def _map_values(lists: pa.ListArray, values: pa.Array) -> pa.ListArray:
    offsets = lists.offsets if isinstance(lists, pa.ListArray) else pa.array(np.asarray(lists.offsets))
    return pa.ListArray.from_arrays(offsets, values)


def _numpy(array) -> np.ndarray:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.to_numpy(zero_copy_only=False)


def _take(value: Any, indices: np.ndarray) -> Any:
    if isinstance(value, np.ndarray):
        return value[indices]
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return value.take(pa.array(indices))
    if isinstance(value, list):
        return [value[i] for i in indices]
    if hasattr(value, "take"):
        return value.take(indices)
    raise TypeError(f"feature of type {type(value).__name__} cannot be subset")
