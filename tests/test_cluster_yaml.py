"""cluster.yaml: valid for the installed Ray's cluster launcher, and it describes the cluster the project needs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA.read_text())


def test_valid_against_ray_schema(config, schema):
    jsonschema.validate(config, schema)


def test_valid_for_the_cluster_launcher(config):
    """What `ray up` does first: fill in the provider's defaults, then validate (offline for AWS)."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert prepared["head_node_type"] == config["head_node_type"]
    assert set(config["available_node_types"]) <= set(prepared["available_node_types"])


def test_schema_check_is_not_vacuous(config, schema):
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_workers"]["resourcez"] = {"GPU": 8}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_workers"]["resources"]["GPU"] = "eight"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_node_types(config):
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    assert {"cpu_workers", "gpu_workers"} <= set(types)
    gpu = types["gpu_workers"]
    assert gpu["resources"].get("GPU", 0) >= 1
    assert gpu["resources"].get("CPU", 0) >= gpu["resources"]["GPU"]  # a CPU per training worker at least
    assert gpu["max_workers"] >= 1
    cpu = types["cpu_workers"]
    assert cpu["resources"].get("CPU", 0) >= 1 and not cpu["resources"].get("GPU")
    assert sum(t.get("max_workers", 0) for name, t in types.items() if name != config["head_node_type"]) <= config[
        "max_workers"
    ]


def test_setup_installs_this_project(config):
    mounts = config["file_mounts"]
    (remote,) = [r for r, local in mounts.items() if Path(local).expanduser().resolve() == ROOT or local == "."]
    commands = [*config["setup_commands"], *config.get("head_setup_commands", [])]
    commands += config.get("worker_setup_commands", [])
    assert any(re.search(rf"pip install (-e|--editable) +{re.escape(remote)}\b", c) for c in commands), commands
    assert (ROOT / "pyproject.toml").exists()


def test_ray_version_matches_installed(config):
    """The launcher's nodes run the Ray we test against (job submission needs matching versions)."""
    docker = config.get("docker", {})
    images = [docker.get("image"), docker.get("head_image"), docker.get("worker_image")]
    images += [t.get("docker", {}).get("worker_image") for t in config["available_node_types"].values()]
    images = [i for i in images if i]
    assert images
    for image in images:
        assert f":{ray.__version__}-" in image, image
    gpu_image = config["available_node_types"]["gpu_workers"]["docker"]["worker_image"]
    cuda = re.search(r"-cu(\d+)$", gpu_image)
    assert cuda, gpu_image  # a pinned CUDA build, not the floating -gpu tag
    # ... and the GPU nodes install the torch built for that CUDA, then refuse to come up if it sees no GPU.
    setup = " ".join(config["available_node_types"]["gpu_workers"]["worker_setup_commands"])
    assert f"download.pytorch.org/whl/cu{cuda.group(1)}" in setup and "torch.cuda.is_available()" in setup


def test_token_auth_kept_on(config):
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    ray_starts = [c for c in starts if "ray start" in c]
    assert len(ray_starts) == 2
    for command in ray_starts:
        assert "RAY_AUTH_MODE=token" in command, command
    assert not any("RAY_AUTH_MODE=disabled" in c for c in starts + config["setup_commands"])
    assert "~/.ray/auth_token" in config["file_mounts"]  # every node holds the same token
    assert any("--head" in c for c in config["head_start_ray_commands"])
    assert any("$RAY_HEAD_IP" in c for c in config["worker_start_ray_commands"])
