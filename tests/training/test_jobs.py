import sys
from pathlib import Path

import pytest
import yaml

from dataprep.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jobs"))
import training_job as job  # noqa: E402  (jobs/ is a folder of scripts, not a package)


def arguments(command, path, extra):
    return job.section_arguments(command, job.read_job(str(path)), str(path), extra)


def test_job_yaml_becomes_pretrain_arguments_over_a_base_config(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("output: /runs/a\nconfig: training/configs/tiny.yaml\ndata: s3://b/tokens\nsteps: 7\n")
    args, merged = arguments("pretrain", path, ["--resume"])
    assert args == ["pretrain", "-o", "/runs/a", "--resume"]
    cfg = yaml.safe_load(merged)
    base = yaml.safe_load((ROOT / "training/configs/tiny.yaml").read_text())
    assert cfg["steps"] == 7 and cfg["data"] == "s3://b/tokens" and cfg["seq_len"] == base["seq_len"]  # from tiny.yaml


def test_shipped_configs_are_valid():
    from training.config import build_config

    for path in sorted((ROOT / "training" / "configs").glob("*.yaml")):
        build_config(None, path)
    _, merged = arguments("pretrain", ROOT / "jobs/configs/pretrain.yaml", [])
    assert build_config(yaml.safe_load(merged)).use_gpu is True
    finetune = job.read_job(str(ROOT / "jobs/configs/finetune.yaml"))
    for name in ("sft", "dpo"):
        args, merged = job.section_arguments(name, finetune[name], name, [])
        assert args[:3] == [name, "-o", finetune[name]["output"]]
        assert build_config(yaml.safe_load(merged) | {"objective": name}).use_gpu is True
    assert "--init=s3://my-bucket/runs/gpt2-124m" in job.section_arguments("sft", finetune["sft"], "sft", [])[0]


def test_job_without_output_is_refused(tmp_path):
    (tmp_path / "job.yaml").write_text("data: x\n")
    with pytest.raises(UserError, match="output"):
        arguments("pretrain", tmp_path / "job.yaml", [])
