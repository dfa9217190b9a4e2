"""Round trip on the whole English and Chinese prose corpora of ../shared (skipped where they are absent)."""

from __future__ import annotations

import json

import pytest

from dataprep.tokenizer.model import load_tokenizer
from tests.conftest import ROOT

PROSE = ROOT.parent / "shared" / "corpora" / "prose"


def prose_documents() -> dict[str, list[str]]:
    en = [l for l in (PROSE / "llamafactory_wiki_demo.txt").read_text().splitlines() if l.strip()]
    en += [json.loads(l)["text"] for l in (PROSE / "llamafactory_c4_demo.jsonl").read_text().splitlines()]
    en += [(PROSE / "tinyshakespeare_input.txt").read_text(), (PROSE / "wikitext-2_test.txt").read_text()]
    zh = []
    guwen = json.loads((PROSE / "chinese_poetry" / "guwenguanzhi.json").read_text())
    zh += ["\n".join(ch["paragraphs"]) for vol in guwen["content"] for ch in vol["content"]]
    zh += ["\n".join(p["paragraphs"]) for p in json.loads((PROSE / "chinese_poetry" / "songci_300.json").read_text())]
    tang = json.loads((PROSE / "chinese_poetry" / "quantangshi_poet.tang.0.json").read_text())
    zh += ["\n".join(p["paragraphs"]) for p in tang]
    return {"en": en, "zh": zh}


@pytest.mark.skipif(not PROSE.exists(), reason="../shared/corpora is not on this machine")
def test_decode_gives_back_every_document(tok_corpus):
    tok = load_tokenizer(tok_corpus["model"])
    for lang, docs in prose_documents().items():
        ids = tok.encode(docs, threads=2)
        assert tok.sp.decode([a.tolist() for a in ids]) == docs, lang
        assert all(tok.sp.unk_id() not in a for a in ids)  # byte fallback: nothing is unknown
