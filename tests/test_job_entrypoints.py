"""The `ray job submit` entry points run as plain scripts (no Ray for a dry run): their configs resolve, the
dialogue job's --tokenizer reaches every tokenize step, and a fine-tuning job YAML missing a section is refused."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _job(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "300"})


def test_job_entrypoints_resolve_their_configs(tmp_path):
    web = _job("jobs/prepare_web.py", "--config", "jobs/configs/demo.yaml", "--output", str(tmp_path / "w"), "--dry-run")
    assert web.returncode == 0, web.stderr
    steps = [line.split(":")[0] for line in web.stdout.splitlines() + web.stderr.splitlines() if line[:1].isdigit()]
    assert steps == ["0 ingest", "1 filter", "2 dedup", "3 tokenizer", "4 tokenize"]

    model = tmp_path / "tok.model"
    dialogue = _job("jobs/prepare_dialogue.py", "--config", "jobs/configs/demo_dialogue.yaml", "--tokenizer", str(model),
                    "--output", str(tmp_path / "d"), "--dry-run")
    assert dialogue.returncode == 0, dialogue.stderr
    text = dialogue.stdout + dialogue.stderr
    assert text.count(str(model)) == 2 and "demo-out/web/03-tokenizer" not in text

    (tmp_path / "ft.yaml").write_text(f"sft: {{output: {tmp_path / 'sft'}}}\n")
    finetune = _job("jobs/finetune.py", "--config", str(tmp_path / "ft.yaml"))
    assert finetune.returncode == 2 and "no `dpo` section" in finetune.stdout + finetune.stderr
