"""The WARC, WET and HTML sources read in-process: reasons for every record, damage, units, WET agreement."""

from __future__ import annotations

import gzip
import shutil

from dataprep.sources import files, html, warc, warc_stream, wet
from dataprep.sources.records import DocumentBuilder
from dataprep.sources.units import unit_bytes
from dataprep.web.evaluate import char_ngram_containment, char_ngram_jaccard
from dataprep.web.page import WebOptions
from tests.web.warcs import EN, WARCS, ZH, deeply_nested_page, response, write_warc

DEFAULT = WebOptions()
BIG = 1 << 40  # a unit size that keeps every file in one unit


def ExtractOptions(extractor, timeout_s=None):  # noqa: N802 - reads like the options it builds
    return WebOptions(extractor=extractor, **({"page_timeout": timeout_s} if timeout_s else {}))


def ingest(path, options=DEFAULT, unit_size=BIG, module=warc):
    """A source's plan and read in this process, as the ingest job runs them on a worker."""
    builder = DocumentBuilder()
    units = module.plan(files.InputFile(str(path), path.name, path.stat().st_size), options, unit_size)
    for unit in units:
        module.read(unit, builder, options)
    table, _ = builder.finish()
    return table.to_pylist(), dict(builder.dropped), units


def test_unit_size_rule():
    assert unit_bytes(0) == 4 << 20
    assert unit_bytes(640 << 20) == 10 << 20
    assert unit_bytes(100 << 30) == 64 << 20


def test_whirlwind_record_fields_and_reasons():
    docs, dropped, _ = ingest(WARCS / "whirlwind_CC-MAIN-2024-22.warc.gz")
    assert dropped == {"warcinfo": 1, "warc_request": 1, "warc_metadata": 1}
    (doc,) = docs
    assert doc["id"] == "urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6"
    assert doc["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert '"http_status": 200' in doc["meta"] and '"charset": "utf-8"' in doc["meta"]
    assert '"warc_date": "2024-05-18T01:58:10Z"' in doc["meta"]


def test_whirlwind_text_agrees_with_its_wet_record():
    wet_docs, wet_dropped, _ = ingest(WARCS / "whirlwind_CC-MAIN-2024-22.warc.wet.gz", module=wet)
    assert wet_dropped == {"warcinfo": 1}
    (wet_doc,) = wet_docs
    assert wet_doc["lang"] == "es"  # WARC-Identified-Content-Language: spa
    assert '"warc_refers_to": "urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6"' in wet_doc["meta"]
    # WET holds all visible text, menus included: the same full-text extraction must agree with it ...
    (full,), _, _ = ingest(WARCS / "whirlwind_CC-MAIN-2024-22.warc.gz", ExtractOptions("plain"))
    assert char_ngram_jaccard(full["text"], wet_doc["text"]) >= 0.8
    # ... and the default's main text is the article part of it
    (main,), _, _ = ingest(WARCS / "whirlwind_CC-MAIN-2024-22.warc.gz")
    assert len(main["text"]) < len(wet_doc["text"])
    assert char_ngram_containment(main["text"], wet_doc["text"]) >= 0.9


def test_wat_files_and_conversion_records_are_counted_under_warc():
    _, dropped, _ = ingest(WARCS / "whirlwind_CC-MAIN-2024-22.warc.wat.gz")
    assert dropped == {"warcinfo": 1, "wat_unsupported": 1}
    _, dropped, _ = ingest(WARCS / "whirlwind_CC-MAIN-2024-22.warc.wet.gz")
    assert dropped == {"warcinfo": 1, "warc_conversion": 1}


def test_a_truncated_warc_gz_keeps_every_record_before_the_damage(tmp_path):
    source = WARCS / "dolma_sample-0000.warc.gz"
    full, _, _ = ingest(source)
    damaged = tmp_path / "damaged.warc.gz"
    damaged.write_bytes(source.read_bytes()[: int(source.stat().st_size * 0.6)])
    docs, dropped, _ = ingest(damaged)
    assert dropped["truncated_file"] == 1
    assert 0 < len(docs) < len(full)
    same = [{k: v for k, v in d.items() if k != "source"} for d in docs]
    assert same == [{k: v for k, v in d.items() if k != "source"} for d in full[: len(docs)]]


def test_bad_payloads_end_in_reasons_and_good_records_are_kept(tmp_path):
    good = (EN / "flowfx.de.tmux.html").read_bytes()
    binary = (WARCS / "warcio_example.warc.gz").read_bytes()
    path = write_warc(tmp_path / "bad.warc.gz", [
        response("http://example.org/good", good),
        response("http://example.org/binary", binary),  # gzip bytes labelled text/html
        response("http://example.org/huge", b"<html><body><p>" + b"x" * (30 << 20) + b"</p></body></html>"),
        response("http://example.org/deep", deeply_nested_page()),
        response("http://example.org/missing", good, status="404 Not Found"),
        response("http://example.org/style.css", b"body { color: red }", content_type="text/css"),
        response("http://example.org/empty", b"<html><body></body></html>"),
        response("http://example.org/zh", (ZH / "people_1.html").read_bytes(), "text/html; charset=gb2312"),
    ])
    # the deep page is pathological for resiliparse's main-content pass (trafilatura's lxml caps the depth)
    docs, dropped, _ = ingest(path, ExtractOptions("resiliparse_rules", timeout_s=1.5))
    assert [d["url"] for d in docs] == ["http://example.org/good", "http://example.org/zh"]
    assert dropped == {"warcinfo": 1, "warc_request": 8, "undecodable": 1, "html_too_large": 1,
                       "extraction_timeout": 1, "http_status_404": 1, "non_html": 1, "empty_extraction": 1}
    assert "郑板桥" in docs[1]["text"]


def test_a_record_cut_short_is_truncated_record(tmp_path):
    path = write_warc(tmp_path / "cut.warc", [response("http://example.org/a", (EN / "flowfx.de.tmux.html").read_bytes())],
                      gzip=False)
    path.write_bytes(path.read_bytes()[:-2000])
    docs, dropped, _ = ingest(path)
    assert docs == [] and dropped.get("truncated_record") == 1


def test_units_of_a_multi_member_file_give_the_same_documents_as_one_unit(tmp_path):
    joined = tmp_path / "joined.warc.gz"
    with open(joined, "wb") as out:  # gzip members concatenate into one valid multi-member WARC
        for name in ("dolma_sample-0000.warc.gz", "dolma_sample-0001.warc.gz", "whirlwind_CC-MAIN-2024-22.warc.gz"):
            out.write((WARCS / name).read_bytes())
    whole, whole_dropped, one = ingest(joined)
    split, split_dropped, many = ingest(joined, unit_size=64 << 10)
    assert len(one) == 1 and len(many) >= 5
    assert [u["start"] for u in many] == sorted(u["start"] for u in many) and many[-1]["end"] == -1
    assert split == whole and split_dropped == whole_dropped


def test_uncompressed_warc_splits_at_record_headers(tmp_path):
    plain = tmp_path / "plain.warc"
    with gzip.open(WARCS / "dolma_sample-0001.warc.gz") as src, open(plain, "wb") as out:
        shutil.copyfileobj(src, out)
    whole, _, _ = ingest(plain)
    split, _, units = ingest(plain, unit_size=32 << 10)
    assert len(units) > 3 and split == whole
    chunked, _, _ = ingest(WARCS / "warcio_example-iana.org-chunked.warc")
    assert "Management of the DNS Root Zone" in chunked[0]["text"]  # chunked transfer-encoding decoded


def test_a_single_gzip_stream_is_one_unit(tmp_path):
    stream = tmp_path / "stream.warc.gz"
    stream.write_bytes(gzip.compress(gzip.decompress((WARCS / "dolma_sample-0001.warc.gz").read_bytes())))
    docs, _, units = ingest(stream, unit_size=1 << 10)
    assert len(units) == 1
    members = ingest(WARCS / "dolma_sample-0001.warc.gz")[0]
    assert [(d["id"], d["text"]) for d in docs] == [(d["id"], d["text"]) for d in members]


def test_html_files_take_their_url_from_canonical_or_og_url(tmp_path):
    page = (EN / "github.blog.spiceland.html").read_bytes()
    (tmp_path / "page.html").write_bytes(page)
    docs, dropped, _ = ingest(tmp_path / "page.html", module=html)
    assert dropped == {} and docs[0]["url"] == "https://github.blog/2019-03-29-leader-spotlight-erin-spiceland/"
    assert docs[0]["id"] == "page.html" and "Erin Spiceland" in docs[0]["text"]
    og_only = b'<html><head><meta property="og:url" content="https://example.org/og"></head><body>' \
              + b"<p>" + b"Plenty of sentence text here. " * 20 + b"</p></body></html>"
    (tmp_path / "og.htm").write_bytes(og_only)
    assert ingest(tmp_path / "og.htm", module=html)[0][0]["url"] == "https://example.org/og"
