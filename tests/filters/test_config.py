"""The filter configuration: defaults with their sources, overrides that name only what they change, one-line
errors naming the key, and `--print-config` output that loads back unchanged."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from dataprep.cli import app
from dataprep.errors import UserError
from dataprep.filters.config import default_config, load_filter_config
from dataprep.filters.registry import STAGES


def test_print_config_loads_back_unchanged(tmp_path):
    runner = CliRunner()
    printed = runner.invoke(app, ["filter", "--print-config"])
    assert printed.exit_code == 0, printed.output
    path = tmp_path / "printed.yaml"
    path.write_text(printed.stdout)
    again = runner.invoke(app, ["filter", "--print-config", "--config", str(path)])
    assert again.exit_code == 0 and again.stdout == printed.stdout
    assert load_filter_config(str(path)).to_data() == default_config().to_data()
    names = [next(iter(entry)) for entry in yaml.safe_load(printed.stdout)["filters"]]
    assert names == ["text_checks", "url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb",
                     "chinese", "bad_words", "pii"]
    assert set(names) == set(STAGES)


def test_defaults_follow_their_sources():
    cfg = default_config()
    zh_rep = cfg.stage("gopher_repetition").thresholds["zh"]
    assert zh_rep.dup_line_frac == 0.287 and zh_rep.top_ngram_char_frac == {2: 0.256, 3: 0.201, 4: 0.171}
    zh_quality = cfg.stage("gopher_quality").thresholds["zh"]
    assert len(zh_quality.stop_words) == 22 and zh_quality.min_stop_words == 2 and zh_quality.max_avg_word_length == 5
    assert cfg.stage("fineweb").thresholds["zh"].min_line_punct_ratio == 0.106
    assert cfg.stage("c4").thresholds["zh"] is None  # C4's English rules are off for Chinese
    assert cfg.stage("gopher_quality").thresholds["default"] is None  # other languages: repetition rules only
    assert cfg.stage("gopher_repetition").thresholds["default"] is not None
    assert cfg.stage("language").options.keep == ["zh", "en"]
    assert cfg.stage("chinese").thresholds["zh"].char_ngram == 13


def test_an_override_names_only_what_it_changes(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("filters:\n  - language\n  - gopher_quality:\n      thresholds:\n"
                    "        zh: {min_doc_words: 30}\n        fr: {min_doc_words: 20}\n        en: null\n")
    cfg = load_filter_config(str(path), url_blocklist=None)
    assert [s.name for s in cfg.stages] == ["language", "gopher_quality"]
    zh = cfg.stage("gopher_quality").thresholds["zh"]
    assert zh.min_doc_words == 30 and zh.min_avg_word_length == 1 and len(zh.stop_words) == 22  # the rest: defaults
    assert cfg.stage("gopher_quality").thresholds["fr"].min_avg_word_length == 3  # a new section: the filter's own
    assert cfg.stage("gopher_quality").thresholds["en"] is None
    with pytest.raises(UserError, match="needs the `url` filter"):
        load_filter_config(str(path), url_blocklist="blocked.txt")
    assert load_filter_config(None, "blocked.txt").stage("url").options.blocklist_file == "blocked.txt"


@pytest.mark.parametrize("body,message", [
    ("filters:\n  - gopher_quality: {thresholds: {zh: {min_doc_words: many}}}\n",
     "filters[0].gopher_quality.thresholds.zh.min_doc_words: Input should be a valid integer"),
    ("filters:\n  - gopher_quality: {thresholds: {zh: {min_words: 3}}}\n",
     "filters[0].gopher_quality.thresholds.zh.min_words: unknown key"),
    ("filters:\n  - language: {keep: zh}\n", "filters[0].language.keep: Input should be a valid list"),
    ("filters:\n  - gopher_quality: {thresholds: {Chinese: {}}}\n",
     "filters[0].gopher_quality.thresholds.Chinese: not a language code"),
    ("filters:\n  - url: {thresholds: {zh: {}}}\n", "filters[0].url.thresholds: filter 'url' has no per-language"),
    ("filters:\n  - language\n  - perplexity\n", "filters[1]: unknown filter 'perplexity'"),
    ("filters:\n  - c4\n  - c4\n", "filters[1]: filter 'c4' is listed twice"),
    ("filter: []\n", "filter: unknown key"),
])
def test_errors_are_one_line_naming_the_key(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(UserError) as err:
        load_filter_config(str(path))
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value)


def test_cli_errors_exit_non_zero_with_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("filters:\n  - fineweb: {thresholds: {en: {max_short_line_ratio: high}}}\n")
    result = CliRunner().invoke(app, ["filter", "--print-config", "--config", str(path)])
    assert result.exit_code == 2  # a bad configuration value is a usage error
    assert "filters[0].fineweb.thresholds.en.max_short_line_ratio" in result.output
    usage = CliRunner().invoke(app, ["filter"])
    assert usage.exit_code == 2 and "needs IN and -o OUT" in usage.output
