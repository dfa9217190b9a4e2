"""Stages as parameter models: one declaration per parameter, read by both the CLI and pipeline YAML (issue 8)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

from dataprep.params import flag_of
from dataprep.steps import STEPS
from tests.conftest import ROOT


def test_pipeline_validates_every_step_with_nothing_else_imported(tmp_path):
    """No registration by import side effect: a fresh interpreter that imports only dataprep.pipeline knows every step."""
    config = tmp_path / "all.yaml"
    (tmp_path / "seeds.txt").write_text("http://127.0.0.1:1/\n")
    required = {"crawl": f"{{seeds: {tmp_path / 'seeds.txt'}}}", "ingest": "{inputs: [x.jsonl]}"}
    items = "".join(f"  - {name}: {required.get(name, '{}')}\n" for name in STEPS)
    config.write_text(f"output: {tmp_path / 'out'}\nsteps:\n{items}")
    code = (f"import sys; from dataprep.pipeline import load_config; cfg = load_config({str(config)!r}); "
            "print(' '.join(s.name for s in cfg.steps)); "
            "sys.exit(any(m.startswith(('ray', 'dataprep.operations', 'dataprep.distributed')) for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == list(STEPS)


@pytest.mark.parametrize("name", list(STEPS))
def test_every_flag_is_the_models_field(name):
    """Each command's options are generated from its step's model: same names, defaults and help."""
    from dataprep.cli import app

    model = STEPS[name]
    command = typer.main.get_command(app).commands[name]
    params = {p.name: p for p in command.params}
    for field, info in model.model_fields.items():
        extra = info.json_schema_extra or {}
        if extra.get("cli") is False:
            continue
        param = params[field]
        assert (param.help or "") == (info.description or "")
        if not (info.is_required() or extra.get("required_on_cli")):
            assert param.default == info.get_default(call_default_factory=True), field
        if not extra.get("argument"):
            assert flag_of(model, field) in (*param.opts, *param.secondary_opts) or info.annotation is bool
