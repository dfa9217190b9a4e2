"""Round trip on bundled slices of the shared English and Chinese prose: Wikipedia, WikiText (with its <unk>
markers), C4, Shakespeare, classical Chinese essays, Song ci and Tang poems (traditional characters)."""

from __future__ import annotations

import json

from dataprep.tokenizer.model import load_tokenizer
from tests.conftest import DATA

PROSE = DATA / "prose"


def prose_documents() -> dict[str, list[str]]:
    en = [ln for ln in (PROSE / "wiki_demo_head3.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    en += [json.loads(ln)["text"] for ln in (DATA / "tokenizer" / "c4_en_head80.jsonl").read_text().splitlines()]
    en += [(DATA / "tinyshakespeare_head.txt").read_text(encoding="utf-8"),
           (PROSE / "wikitext-2_test_head100k.txt").read_text(encoding="utf-8")]
    zh = [json.loads(ln)["text"] for ln in (DATA / "tokenizer" / "guwenguanzhi_zh_head40.jsonl").read_text().splitlines()]
    zh += ["\n".join(p["paragraphs"]) for p in json.loads((PROSE / "songci_300.json").read_text(encoding="utf-8"))]
    zh += ["\n".join(p["paragraphs"]) for p in json.loads((PROSE / "quantangshi_tang0_head200.json").read_text())]
    return {"en": en, "zh": zh}


def test_decode_gives_back_every_document(tok_corpus):
    tok = load_tokenizer(tok_corpus["model"])
    docs = prose_documents()
    assert len(docs["en"]) > 80 and len(docs["zh"]) > 500
    for lang, texts in docs.items():
        ids = tok.encode(texts, threads=2)
        assert tok.sp.decode([a.tolist() for a in ids]) == texts, lang
        assert all(tok.sp.unk_id() not in a for a in ids)  # byte fallback: nothing is unknown
