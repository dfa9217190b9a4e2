"""Shared fixtures: one embedded Ray for the whole session (starting Ray costs seconds), real corpora paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="session")
def ray_local():
    """An embedded 2-CPU Ray shared by every test that runs Ray Data or Ray Train work in-process."""
    import ray

    from dataprep.distributed.runtime import configure_data_context

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    configure_data_context()
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    # Left running until the interpreter exits: later fixtures (other packages' conftest) may share it.


@pytest.fixture
def data_dir() -> Path:
    return DATA
