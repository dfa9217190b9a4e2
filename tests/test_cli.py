"""The `dataprep` command line: stats, export, pipeline configs, and one-line errors."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dataprep.cli import app
from tests.conftest import DEMO

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_docs(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "docs"
    result = runner.invoke(app, ["ingest", str(DEMO / "web"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_stats_json_has_the_design_keys(demo_docs):
    result = runner.invoke(app, ["stats", str(demo_docs), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    for key in ("kind", "shards", "rows", "bytes", "tokens", "stages", "lang", "length"):
        assert key in summary
    assert summary["kind"] == "documents" and summary["tokens"] is None
    raw_lines = sum(1 for f in (DEMO / "web").glob("*.jsonl") for line in f.read_bytes().splitlines() if line.strip())
    ingest = summary["stages"][0]
    assert ingest["rows_in"] == raw_lines
    assert ingest["rows_out"] == summary["rows"] == raw_lines - sum(ingest["dropped"].values())
    assert set(ingest["dropped"]) >= {"invalid_json", "invalid_utf8", "binary_content"}
    assert summary["lang"]["zh"] > 1000 and summary["lang"]["en"] > 300
    assert summary["length"]["p10"] <= summary["length"]["p50"] <= summary["length"]["p90"]


def test_stats_table_and_plot(demo_docs, tmp_path):
    png = tmp_path / "stats.png"
    result = runner.invoke(app, ["stats", str(demo_docs), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "invalid_json" in result.stdout and "languages" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_export_jsonl_and_parquet(demo_docs, tmp_path):
    result = runner.invoke(app, ["export", str(demo_docs), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    result = runner.invoke(app, ["export", str(demo_docs), "-o", str(tmp_path / "out.parquet")])
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == len(rows) > 1500
    assert table.column("id").to_pylist() == [r["id"] for r in rows]
    assert any(r["id"] == "songci-000" for r in rows)


@pytest.mark.parametrize(
    "args, message",
    [
        (["stats", "/nonexistent/dataset"], "does not exist"),
        (["export", "/nonexistent/dataset", "-o", "x.jsonl"], "does not exist"),
        (["ingest", "/nonexistent/input.jsonl", "-o", "/tmp/never"], "does not exist"),
        (["run", "/nonexistent/config.yaml"], "does not exist"),
    ],
)
def test_errors_are_one_line(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def test_unguessable_format_and_export_suffix(tmp_path, demo_docs):
    (tmp_path / "data.xyz").write_text("hello")
    result = runner.invoke(app, ["ingest", str(tmp_path / "data.xyz"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "--format" in result.output
    result = runner.invoke(app, ["export", str(demo_docs), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 1 and ".jsonl" in result.output


def test_pipeline_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output: out\nsteps:\n  - ingest: {inputs: [a.jsonl], formatt: jsonl}\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2  # a usage error: nothing ran
    assert "steps[0].ingest.formatt" in result.output and "unknown key" in result.output
    bad.write_text("output: out\nsteps:\n  - ingest: {inputs: [a.jsonl], max_chars: many}\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2 and "steps[0].ingest.max_chars" in result.output
    bad.write_text("output: out\nsteps:\n  - frobnicate: {}\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2 and "unknown step 'frobnicate'" in result.output


def test_run_pipeline_config(ray_local, tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"output: {tmp_path / 'run'}\nsteps:\n  - ingest:\n      inputs: [{DEMO / 'web' / 'songci_zh.jsonl'}]\n")
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "00-ingest" / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == 280
    assert manifest["provenance"]["job"] == "ingest"
