"""Shared fixtures: one embedded Ray for the whole session (starting Ray costs seconds), real corpora paths."""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The budget is 8 minutes on 2 cores (CI's machine), enforced: the hook below fails a session that runs past it.
# `make test` runs two xdist workers (-n 2 --dist loadfile): a Ray or Ray Train start-up is a chain of processes each
# importing torch and ray.train one after another, so one file at a time leaves a core idle a third of the time. Each
# worker takes whole work units (a test folder, or a module directly under tests/), the units holding the most slow
# tests first: the training folder's session fixtures are built once and the 2-node cluster's module starts at once on
# the other worker. 192-224 s here; 442 s with the session throttled to 1.05 CPUs by a cgroup quota, harsher than this
# machine's slowest hours (1.9 times its quiet times). RAYLM_TEST_BUDGET_S overrides the budget (0 disables it).
TEST_BUDGET_S = float(os.environ.get("RAYLM_TEST_BUDGET_S", 480))


def work_unit(nodeid: str) -> str:
    """What one xdist worker runs as a whole: a test folder (its conftest's session fixtures, such as the training
    corpus and the reference run, are then built once), or a module directly under tests/."""
    path = nodeid.split("::", 1)[0]
    folder = path.rsplit("/", 1)[0]
    return path if folder == "tests" else folder


def pytest_collection_modifyitems(session, config, items):
    # The longest units first, so that neither worker is left with one at the end: the units that hold the most
    # `slow` tests (Ray Train runs, the 2-node cluster) lead; a stable sort keeps every other order as collected.
    slow = Counter(work_unit(item.nodeid) for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[work_unit(item.nodeid)])


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, only called when it runs the session
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile by work_unit instead of by module, in the collection order set above (xdist's own order is
    by number of tests, which put the cluster's few long tests behind files of many short ones)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ByWorkUnit(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False
    return ByWorkUnit(config, log)


def pytest_sessionstart(session):
    session.started_at = time.monotonic()


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller times the whole session
        return
    elapsed = time.monotonic() - getattr(session, "started_at", time.monotonic())
    if TEST_BUDGET_S and elapsed > TEST_BUDGET_S and exitstatus == 0:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: the test session took {elapsed:.0f} s, over its {TEST_BUDGET_S:.0f} s "
                                "budget (see `pytest --durations=20`)", red=True)


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


@pytest.fixture(scope="session")
def s3_settings():
    """moto's S3 server on a free loopback port (buckets `runs` and `datasets`), set in this process's fsspec
    config; the settings are also what FSSPEC_S3 carries to a subprocess or a Ray job (credentials through the
    environment, never through a config file)."""
    import boto3
    import fsspec
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    conf = {"key": "test", "secret": "test", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    saved = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = conf
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    for bucket in ("runs", "datasets"):
        client.create_bucket(Bucket=bucket)
    yield conf
    if saved is None:
        fsspec.config.conf.pop("s3", None)
    else:
        fsspec.config.conf["s3"] = saved
    server.stop()


@pytest.fixture
def data_dir() -> Path:
    return DATA


def ingest(inputs: list[str], out: str, fmt: str | None = None, workers: int | None = None, **options):
    """Run the ingest step in-process; returns (manifest, reused shards)."""
    from dataprep.steps import Ingest, execute

    result = execute(Ingest(inputs=[str(i) for i in inputs], output=str(out), format=fmt, **options), workers)
    return result.manifest, result.reused


def tokenize(dataset: str, tokenizer: str, out: str, workers: int | None = None):
    from dataprep.steps import Tokenize, execute

    result = execute(Tokenize(input=str(dataset), tokenizer=str(tokenizer), output=str(out)), workers)
    return result.manifest, result.reused


def train_tokenizer(inputs: list[str], prefix: str, vocab_size: int, workers: int | None = None, **options) -> dict:
    """Train through the tokenizer step; returns the description written to PREFIX.json."""
    import json

    from dataprep.dataset import storage
    from dataprep.steps import Tokenizer, execute

    execute(Tokenizer(inputs=[str(i) for i in inputs], output=str(prefix), vocab_size=vocab_size, **options), workers)
    fs, root = storage.resolve(str(prefix))
    return json.loads(fs.cat_file(root + ".json"))
