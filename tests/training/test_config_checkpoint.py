import json
import os
import pickle

import pytest
import torch

from dataprep.errors import UserError
from training.checkpoint import (
    list_checkpoints,
    load_model,
    load_training_state,
    resolve_checkpoint,
    save_checkpoint,
    step_dir_name,
)
from training.config import TrainConfig, build_config
from training.model import GPT, GPTConfig
from training.objectives.base import Batch, token_losses
from training.optim import build_optimizer, build_scheduler, lr_factor


def test_every_key_has_a_default_and_yaml_then_set_override(tmp_path):
    assert TrainConfig().model == "tiny"
    path = tmp_path / "c.yaml"
    path.write_text("steps: 50\nlr: 0.001\nmodel: small\n")
    cfg = build_config(None, path, ["steps=70", "model.n_layer=3", "use_gpu=true"])
    assert cfg.steps == 70 and cfg.lr == 0.001 and cfg.use_gpu is True
    assert cfg.model == {"base": "small", "n_layer": 3}
    assert TrainConfig.model_validate(json.loads(json.dumps(cfg.model_dump()))) == cfg


@pytest.mark.parametrize(
    "override,message",
    [("stepz=3", "unknown config key"), ("steps=0", "steps"), ("model=huge", "unknown model size"), ("lr", "key=value")],
)
def test_bad_config_is_one_clear_line(override, message):
    with pytest.raises(UserError, match=message) as info:
        build_config(None, None, [override])
    assert "\n" not in str(info.value)


def test_bad_yaml_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("steps: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        build_config(None, tmp_path / "bad.yaml")
    with pytest.raises(UserError, match="does not exist"):
        build_config(None, tmp_path / "missing.yaml")


def test_warmup_then_cosine_to_min_lr():
    cfg = TrainConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1) and lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(55, cfg) == pytest.approx(0.55)
    assert lr_factor(100, cfg) == pytest.approx(0.1)


def _train_some(model, opt, sched, steps):
    for _ in range(steps):
        idx = torch.randint(0, 64, (2, 8))
        batch = Batch(idx, idx.roll(1, 1))
        (token_losses(model, batch).sum() / batch.targets.numel()).backward()
        opt.step()
        sched.step()
        opt.zero_grad()


def test_checkpoint_roundtrip_continues_identically_without_pickle(tmp_path):
    cfg = TrainConfig(steps=20, warmup_steps=2)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=1, d_model=32, max_seq_len=16))
    opt, sched = build_optimizer(model, cfg, torch.device("cpu")), None
    sched = build_scheduler(opt, cfg)
    _train_some(model, opt, sched, 3)
    directory = tmp_path / "checkpoints" / step_dir_name(3)
    save_checkpoint(directory, model, opt, sched, {"step": 3, "loader": {"epoch": 0, "batch": 3}})
    _train_some(model, opt, sched, 2)
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    torch.manual_seed(123)
    fresh = GPT(model.cfg)
    opt2 = build_optimizer(fresh, cfg, torch.device("cpu"))
    sched2 = build_scheduler(opt2, cfg)
    state = load_training_state(directory, fresh, opt2, sched2)  # also restores the RNG the batches come from
    assert state["step"] == 3 and state["loader"] == {"epoch": 0, "batch": 3}
    _train_some(fresh, opt2, sched2, 2)
    assert all(torch.equal(expected[k], v) for k, v in fresh.state_dict().items())

    # Nothing in the folder is a pickle: safetensors and JSON only.
    assert {p.name for p in directory.iterdir()} == {"model.safetensors", "optimizer.safetensors", "rng.safetensors",
                                                    "state.json"}
    assert resolve_checkpoint(tmp_path) == directory and list_checkpoints(tmp_path) == [directory]
    loaded, _, _ = load_model(tmp_path)
    assert torch.equal(loaded.embed.weight, load_model(directory)[0].embed.weight)


def test_a_pickle_bomb_in_a_checkpoint_is_refused_not_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    cfg = TrainConfig()
    model = GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=1, d_model=32, max_seq_len=16))
    opt = build_optimizer(model, cfg, torch.device("cpu"))
    sched = build_scheduler(opt, cfg)
    save_checkpoint(tmp_path, model, opt, sched, {"step": 0})
    for name in ("optimizer.safetensors", "rng.safetensors"):
        good = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(pickle.dumps(Boom(), protocol=2))
        with pytest.raises(UserError, match=f"{name} has .* bytes, state.json records"):
            load_training_state(tmp_path, model, opt, sched)
        (tmp_path / name).write_bytes(good)
    flipped = bytearray(good)
    flipped[-1] ^= 1
    (tmp_path / "rng.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(UserError, match="rng.safetensors does not match the sha256"):
        load_training_state(tmp_path, model, opt, sched)


def test_resolve_checkpoint_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nope")
    (tmp_path / "checkpoints" / step_dir_name(5)).mkdir(parents=True)  # incomplete: no state.json
    with pytest.raises(UserError, match="no complete checkpoint"):
        resolve_checkpoint(tmp_path)


def test_deterministic_sets_torch_and_cublas(monkeypatch):
    from training.engine import set_deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    try:
        set_deterministic()
        assert torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert TrainConfig(deterministic=True).deterministic and not TrainConfig().deterministic
    finally:
        torch.use_deterministic_algorithms(before)


def test_damaged_newest_checkpoint_is_named_and_skipped_and_all_damaged_is_refused(tmp_path):
    from training.checkpoint import checkpoint_names, latest_state
    from training.trainer import check_run_folder, resume_warnings

    cfg = TrainConfig(steps=20, warmup_steps=2)
    model = GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=1, d_model=32, max_seq_len=16))
    opt = build_optimizer(model, cfg, torch.device("cpu"))
    sched = build_scheduler(opt, cfg)
    for step in (2, 4):
        state = {"step": step, "world_size": 1, "config": cfg.model_dump()}
        save_checkpoint(tmp_path / "checkpoints" / step_dir_name(step), model, opt, sched, state)
    assert checkpoint_names(tmp_path) == [step_dir_name(2), step_dir_name(4)] and latest_state(tmp_path)["step"] == 4
    newest = tmp_path / "checkpoints" / step_dir_name(4) / "optimizer.safetensors"
    newest.write_bytes(newest.read_bytes()[:-8])
    assert latest_state(tmp_path)["step"] == 2
    (line,) = resume_warnings(tmp_path)
    assert line.startswith("warning: checkpoints/step-00000004/optimizer.safetensors has") and "step-00000002" in line
    (tmp_path / "checkpoints" / step_dir_name(2) / "model.safetensors").unlink()
    with pytest.raises(UserError, match="none is intact"):
        check_run_folder(cfg, tmp_path, resume=True)
