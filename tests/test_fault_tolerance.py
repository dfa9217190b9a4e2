"""A worker that dies mid-job is retried by Ray, and the job's output equals a clean run's."""

from __future__ import annotations

import os

from dataprep.distributed.executor import run_sharded_job
from dataprep.ingest import IngestJob
from dataprep.sources import units
from dataprep.steps import Ingest
from tests.conftest import DEMO


class DyingIngestJob(IngestJob):
    """Kills its own worker process the first time it reaches one unit (a marker file remembers)."""

    def __init__(self, *args, marker: str, victim: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.marker = marker
        self.victim = victim

    def process(self, unit):
        if unit == self.units[self.victim]:
            if not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os._exit(1)  # a hard crash: no exception, no cleanup
        return super().process(unit)


def test_dead_worker_is_retried_and_output_matches_clean_run(ray_local, tmp_path, monkeypatch):
    monkeypatch.setattr(units, "MIN_UNIT_BYTES", 150_000)
    inputs = [str(DEMO / "web")]
    clean, _ = run_sharded_job(IngestJob(Ingest(inputs=inputs), str(tmp_path / "clean")))
    marker = str(tmp_path / "died")
    job = DyingIngestJob(Ingest(inputs=inputs), str(tmp_path / "crashy"), marker=marker, victim=3)
    crashed, _ = run_sharded_job(job)
    assert os.path.exists(marker), "the worker never died: the test did not test anything"
    assert [s.sha256 for s in crashed.shards] == [s.sha256 for s in clean.shards]
    assert crashed.stats == clean.stats
