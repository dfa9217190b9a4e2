"""One corpus mixing every kind of bad input with good documents: the ingest runs to completion, each bad input is
counted under its reason, and every good document is in the output (by id)."""

from __future__ import annotations

import json

import pytest

from dataprep.dataset import open_dataset
from tests.conftest import DATA, ingest
from tests.test_ingest import GOOD, crafted_jsonl
from tests.web.test_warc_source import ingest as read_warc

WARC = DATA / "web" / "warc" / "dolma_sample-0000.warc.gz"
HTML_ZH = DATA / "web" / "html" / "zh" / "people_1.html"
HTML_EN = DATA / "web" / "html" / "en" / "flowfx.de.tmux.html"
BIG_CHARS = 100 << 20  # one 100 MB line: a dump, not a document


@pytest.mark.slow  # writes and reads a 100 MB line and extracts a WARC: ~20-40 s on 2 cores
def test_a_corpus_of_bad_inputs_completes_counts_each_and_keeps_every_good_document(ray_local, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    crafted_jsonl(corpus / "crafted.jsonl")  # malformed JSON, invalid UTF-8, wrong types, empty, binary, 2M chars
    damaged = corpus / "damaged.warc.gz"
    damaged.write_bytes(WARC.read_bytes()[: int(WARC.stat().st_size * 0.6)])
    (corpus / "image.html").write_bytes(WARC.read_bytes()[:20_000])  # gzip bytes under an .html name
    (corpus / "zh.html").write_bytes(HTML_ZH.read_bytes())
    (corpus / "en.html").write_bytes(HTML_EN.read_bytes())
    with (corpus / "huge.jsonl").open("w") as f:
        f.write('{"id": "huge-100mb", "text": "')
        block = "x" * (1 << 20)
        for _ in range(BIG_CHARS >> 20):
            f.write(block)
        f.write('"}\n' + json.dumps({"id": "after-huge", "text": "The good line after a 100 MB one is kept."}) + "\n")

    manifest, _ = ingest([str(corpus)], str(tmp_path / "out"))
    table = open_dataset(str(tmp_path / "out")).to_table(columns=["id", "source"])
    ids = table.column("id").to_pylist()

    # every good document, by id
    for good in ("good-1", "2", "good-4", "after-huge"):
        assert good in ids, good
    assert any(i.startswith("crafted.jsonl#") for i in ids)  # the good record without an id
    sources = table.column("source").to_pylist()
    assert sources.count("zh.html") == 1 and sources.count("en.html") == 1
    full, _, _ = read_warc(WARC)
    kept = [i for i, s in zip(ids, sources) if s == "damaged.warc.gz"]
    assert 0 < len(kept) < len(full)  # everything before the damage
    assert len(ids) == 4 + 1 + 2 + len(kept) == manifest.rows and len(GOOD) == 4

    # every bad input, by reason
    dropped = manifest.stats["stages"][0]["dropped"]
    for reason, count in {"invalid_json": 1, "invalid_utf8": 1, "missing_text": 1, "not_an_object": 1,
                          "wrong_type": 2, "empty_text": 1, "binary_content": 1, "truncated_file": 1}.items():
        assert dropped.get(reason) == count, (reason, dropped)
    assert dropped["too_large"] == 2  # the 2M-character record and the 100 MB line
    binary = {r: e for r, e in manifest.stats["files"].items() if "image.html" in e["names"]}
    assert len(binary) == 1, manifest.stats["files"]  # the binary .html: a file skipped with its reason
