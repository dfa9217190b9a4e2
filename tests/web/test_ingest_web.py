"""`dataprep ingest --format warc|wet|html` end to end on the session's Ray, and `dataprep stats` on the result."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dataprep.cli import app
from dataprep.dataset import open_dataset
from tests.web.warcs import WARCS, ZH

runner = CliRunner()


def stats(path) -> dict:
    result = runner.invoke(app, ["stats", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_bundled_warc_ingests_and_stats_show_each_reason(ray_local, tmp_path):
    out = tmp_path / "warc"
    inputs = sorted(str(p) for p in WARCS.iterdir() if ".wet." not in p.name)
    # the fastest extractor keeps this test short; the default's quality is asserted in test_extract.py
    result = runner.invoke(app, ["ingest", *inputs, "-o", str(out), "--format", "warc", "--extractor", "resiliparse"])
    assert result.exit_code == 0, result.output
    (stage,) = stats(out)["stages"]
    dropped = stage["dropped"]
    assert stage["rows_in"] == stage["rows_out"] + sum(dropped.values())  # every record read is accounted for
    assert stage["rows_out"] >= 80
    for reason in ("warcinfo", "warc_request", "warc_metadata", "warc_revisit", "non_html", "http_status_302",
                   "wat_unsupported"):
        assert dropped.get(reason, 0) > 0, (reason, dropped)
    assert "truncated_file" not in dropped
    rows = open_dataset(str(out)).to_table().to_pylist()
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["lang"] for r in rows} >= {"en", "zh", "ja"}
    text_plain = runner.invoke(app, ["stats", str(out)])
    assert "warc_request" in text_plain.output and "rows in" in text_plain.output


def test_wet_and_html_formats(ray_local, tmp_path):
    result = runner.invoke(app, ["ingest", str(WARCS / "whirlwind_CC-MAIN-2024-22.warc.wet.gz"), "-o",
                                 str(tmp_path / "wet")])  # `.warc.wet.gz` is guessed as wet
    assert result.exit_code == 0, result.output
    (stage,) = stats(tmp_path / "wet")["stages"]
    assert stage["rows_out"] == 1 and stage["dropped"] == {"warcinfo": 1}

    result = runner.invoke(app, ["ingest", str(ZH / "*.html"), "-o", str(tmp_path / "html"),
                                 "--extractor", "trafilatura_fast"])
    assert result.exit_code == 0, result.output
    summary = stats(tmp_path / "html")
    assert summary["rows"] == 16 and summary["lang"].get("zh") == 16, summary["stages"]
    (stage,) = summary["stages"]
    assert stage["dropped"] == {}


def test_unknown_extractor_is_a_usage_error(ray_local, tmp_path):
    result = runner.invoke(app, ["ingest", str(WARCS / "warcio_example.warc.gz"), "-o", str(tmp_path / "o"),
                                 "--extractor", "nope"])
    assert result.exit_code != 0 and "unknown extractor" in result.output
