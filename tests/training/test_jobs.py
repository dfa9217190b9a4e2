import sys
from pathlib import Path

import pytest
import yaml

from dataprep.errors import UserError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "jobs"))
import pretrain as job  # noqa: E402  (jobs/ is a folder of scripts, not a package)


def test_job_yaml_becomes_pretrain_arguments_over_a_base_config(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("output: /runs/a\nconfig: training/configs/tiny.yaml\ndata: s3://b/tokens\nsteps: 7\n")
    args, merged = job.job_arguments(str(path), ["--resume"])
    assert args == ["pretrain", "-o", "/runs/a", "--resume"]
    cfg = yaml.safe_load(merged)
    base = yaml.safe_load((Path(__file__).resolve().parents[2] / "training/configs/tiny.yaml").read_text())
    assert cfg["steps"] == 7 and cfg["data"] == "s3://b/tokens" and cfg["seq_len"] == base["seq_len"]  # from tiny.yaml


def test_shipped_configs_are_valid():
    from training.config import build_config

    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "training" / "configs").glob("*.yaml")):
        build_config(None, path)
    _, merged = job.job_arguments(str(root / "jobs/configs/pretrain.yaml"), [])
    assert build_config(yaml.safe_load(merged)).use_gpu is True


def test_job_without_output_is_refused(tmp_path):
    (tmp_path / "job.yaml").write_text("data: x\n")
    with pytest.raises(UserError, match="output"):
        job.job_arguments(str(tmp_path / "job.yaml"), [])
