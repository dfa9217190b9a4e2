"""`dataprep filter` end to end on the session's embedded Ray: shard i -> shard i, a stage per filter in the stats,
`--keep-rejected` as a second dataset that round-trips through export, and a re-run that reuses every shard."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from dataprep.cli import app
from dataprep.dataset import open_dataset, write_dataset
from dataprep.export import export
from dataprep.filters.chain import REJECT_COLUMNS
from dataprep.pipeline import load_config

def filter_documents(src: str, out: str, keep_rejected: str | None = None):
    """The filter step in-process: (manifest, rejected dataset's manifest, reused shards)."""
    from dataprep.steps import Filter, execute

    result = execute(Filter(input=src, output=out, keep_rejected=keep_rejected))
    rejected = open_dataset(keep_rejected).manifest if keep_rejected else None
    return result.manifest, rejected, result.reused


FILTER_STAGES = ["text_checks", "url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb", "chinese",
                 "bad_words", "pii"]


@pytest.fixture(scope="module")
def filtered(ray_local, tmp_path_factory, pages):
    root = tmp_path_factory.mktemp("filter")
    docs = pa.concat_tables([pages["zh_pages"], pages["en_pages"], pages["cc_2020-34_pages"]])
    write_dataset(str(root / "docs"), "documents", [docs.slice(0, 30), docs.slice(30)])
    first = filter_documents(str(root / "docs"), str(root / "out"), keep_rejected=str(root / "rejected"))
    again = filter_documents(str(root / "docs"), str(root / "out"), keep_rejected=str(root / "rejected"))
    return root, docs, first, again


def test_shards_map_one_to_one_and_rows_are_kept_or_rejected(filtered):
    root, docs, (manifest, rejected, skipped), _ = filtered
    assert skipped == 0 and len(manifest.shards) == 2 and len(rejected.shards) == 2
    kept, dropped = open_dataset(str(root / "out")).to_table(), open_dataset(str(root / "rejected")).to_table()
    assert kept.num_rows == 37 and dropped.num_rows == 16  # 16 + 21 pages kept; the 16 Common Crawl pages go
    assert sorted(kept["id"].to_pylist() + dropped["id"].to_pylist()) == sorted(docs["id"].to_pylist())
    assert dropped.schema.names[-4:] == [name for name, _ in REJECT_COLUMNS]
    assert manifest.stats["counters"]["pii.EMAIL"] == 2  # two addresses on the gold pages are now <EMAIL>
    assert all("lang_score" in json.loads(m) for m in kept["meta"].to_pylist())


def test_stats_show_every_filter_stage_with_its_reasons(filtered):
    root = filtered[0]
    for name in ("out", "rejected"):
        result = CliRunner().invoke(app, ["stats", str(root / name), "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        stages = [s["name"] for s in summary["stages"]]
        assert stages == ["write"] + FILTER_STAGES  # the input's own stage, then one per filter
        by_name = {s["name"]: s for s in summary["stages"]}
        assert by_name["language"]["dropped"] == {"lang_not_kept": 4}
        assert by_name["bad_words"]["dropped"] == {"bad_words": 1}
    table = CliRunner().invoke(app, ["stats", str(root / "out")], env={"COLUMNS": "200"})
    assert "gopher_too_many_bullets" in table.stdout and "time_ms.gopher_repetition" in table.stdout


def test_rejected_documents_round_trip_through_export(filtered, tmp_path):
    root = filtered[0]
    dataset = open_dataset(str(root / "rejected"))
    rows = export(dataset, str(tmp_path / "rejected.jsonl"))
    exported = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert rows == 16 and exported == dataset.to_table().to_pylist()
    by_url = {r["url"]: r for r in exported}
    spam = by_url["http://0513mt.com/index.php/art/detail/id/8884.html"]
    assert (spam["filter"], spam["reason"], spam["value"], spam["threshold"]) == ("bad_words", "bad_words", 9.0, 2.0)


def test_a_rerun_reuses_every_shard_byte_for_byte(filtered):
    _, _, (first, first_rejected, _), (second, second_rejected, skipped) = filtered
    assert skipped == 2
    assert [s.sha256 for s in first.shards] == [s.sha256 for s in second.shards]
    assert [s.sha256 for s in first_rejected.shards] == [s.sha256 for s in second_rejected.shards]


def test_filter_is_a_pipeline_step(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("output: out\nsteps:\n  - ingest: {inputs: [x.jsonl]}\n"
                    "  - filter: {keep_rejected: out/rejected, filters: [language, pii]}\n")
    step = load_config(str(path)).steps[1]
    assert step.name == "filter" and step.filters == ["language", "pii"]
    path.write_text("output: out\nsteps:\n  - filter: {keep_rejects: x}\n")
    with pytest.raises(Exception, match="steps\\[0\\].filter.keep_rejects"):
        load_config(str(path))
