"""Run folders on object storage: the pyarrow filesystem Ray Train's storage gets is built from the same settings
as fsspec's. A whole run on moto's S3 server (train, SIGKILL, damage, resume past it, evaluate) is
tests/test_cluster_integration.py::test_two_worker_training_job_checkpoints_to_s3_and_resumes_from_there."""

from __future__ import annotations

from training.runfolder import s3_options


def test_pyarrow_s3_settings_follow_fsspec(s3_settings):
    options = s3_options()
    assert options["endpoint_override"] == s3_settings["client_kwargs"]["endpoint_url"].split("//")[1]
    assert options["scheme"] == "http" and options["access_key"] == "test" and options["region"] == "us-east-1"
