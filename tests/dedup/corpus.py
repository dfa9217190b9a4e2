"""Small real corpora for dedup tests, with near-duplicates planted deterministically."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa

from dataprep.dataset import DOCUMENTS, write_dataset

DATA = Path(__file__).resolve().parent.parent / "data" / "dedup"
HEADERS = ["Home | News | Sport | Contact us", "首页 > 新闻中心 > 正文"]
FOOTERS = ["Copyright 2024 Example Media Ltd. All rights reserved. Privacy policy.", "版权所有 未经许可不得转载"]


def read_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def english() -> list[tuple[str, str]]:
    return [(f"en-{i:04d}", r["text"]) for i, r in enumerate(read_jsonl("c4_en_head120.jsonl"))]


def chinese() -> list[tuple[str, str]]:
    return [(r["id"], r["text"]) for r in read_jsonl("guwenguanzhi_zh_head60.jsonl")]


def sohu_pairs() -> list[dict]:
    return read_jsonl("sohu2021_dd-test_zh_pairs.jsonl")


def change_words(text: str, k: int, rng: random.Random, vocab: list[str]) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), k):
        words[i] = rng.choice(vocab)
    return " ".join(words)


def change_chars(text: str, k: int, rng: random.Random, alphabet: str) -> str:
    chars = list(text)
    positions = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
    for i in rng.sample(positions, k):
        chars[i] = rng.choice(alphabet)
    return "".join(chars)


def planted(seed: int = 0) -> tuple[list[tuple[str, str]], set[str], set[str]]:
    """Real en + zh documents plus near-copies; returns (docs, ids of originals, ids of planted copies).

    Copies get ids sorting after every original ("zz-..."), so the originals are the ones to keep.
    Each copy has 2 words / 3 characters changed, or a header or footer added.
    """
    rng = random.Random(seed)
    en, zh = english(), chinese()
    vocab = sorted({w for _, t in en for w in t.split() if w.isalpha()})
    alphabet = "".join(sorted({c for _, t in zh for c in t if "\u4e00" <= c <= "\u9fff"}))
    copies = []
    long_en = [(i, t) for i, t in en if len(t.split()) >= 300]
    long_zh = [(i, t) for i, t in zh if len(t) >= 300]
    for n, (doc_id, text) in enumerate(long_en[:12]):
        kind = n % 3
        if kind == 0:
            copy = change_words(text, 2, rng, vocab)
        elif kind == 1:
            copy = HEADERS[0] + "\n" + text
        else:
            copy = text + "\n" + FOOTERS[0]
        copies.append((f"zz-{doc_id}-copy", copy))
    for n, (doc_id, text) in enumerate(long_zh[:12]):
        kind = n % 3
        if kind == 0:
            copy = change_chars(text, 3, rng, alphabet)
        elif kind == 1:
            copy = HEADERS[1] + "\n" + text
        else:
            copy = text + "\n" + FOOTERS[1]
        copies.append((f"zz-{doc_id}-copy", copy))
    docs = en + zh + copies
    rng.shuffle(docs)
    return docs, {i for i, _ in en + zh}, {i for i, _ in copies}


def word_groups(seed: int = 0, vocab: list[str] | None = None) -> list[tuple[str, str]]:
    """Groups of 4 variants (1-8 words changed) of random 40-word texts: buckets of three or more documents whose
    pairwise similarities straddle the threshold, where --verify's comparisons decide the components.

    The default vocabulary "w0".."w399" normalizes to three words (digits fold to 0); `letter_words()` gives 400."""
    rng = random.Random(seed)
    vocab = vocab or [f"w{i}" for i in range(400)]
    docs = []
    for g in range(30):
        base = [rng.choice(vocab) for _ in range(40)]
        for j in range(4):
            words = list(base)
            for _ in range(rng.randint(1, 8)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            docs.append((f"g{g:02d}-{j}", " ".join(words)))
    return docs


def letter_words(n: int) -> list[str]:
    """`n` distinct words of letters only (which normalization keeps distinct)."""
    return ["".join(chr(ord("a") + int(d)) for d in f"{i:04d}") for i in range(n)]


def documents_table(docs: list[tuple[str, str]], lang: str = "und") -> pa.Table:
    n = len(docs)
    return pa.table(
        {"id": [d[0] for d in docs], "text": [d[1] for d in docs], "source": ["test"] * n, "url": [None] * n,
         "lang": [lang] * n, "meta": [None] * n},
        schema=DOCUMENTS,
    )


def write_docs(url, docs: list[tuple[str, str]], shards: int = 3) -> str:
    """A documents dataset of `docs` cut into `shards` contiguous shards."""
    size = -(-len(docs) // shards)
    write_dataset(str(url), "documents", [documents_table(docs[i : i + size]) for i in range(0, len(docs), size)],
                  schema=DOCUMENTS)
    return str(url)
