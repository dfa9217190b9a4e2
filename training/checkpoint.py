"""Checkpoint folders: everything needed to continue a run exactly, in safetensors and JSON (nothing is unpickled).

    model.safetensors   the whole model's weights (the model's config in the safetensors metadata); under FSDP
                        rank 0 writes it from the gathered shards, so chat, eval and export read every run alike
    optimizer.safetensors                   AdamW state by parameter name (one rank's run, or DDP)
    optimizer-rank-RRRRR-of-WWWWW.safetensors   FSDP: each rank's shard of the AdamW state
    rng.safetensors     torch (and CUDA) generator states
    tokenizer.model     the sentencepiece model the run's token ids come from (sha256 in state.json)
    state.json          step, tokens seen, world size, scheduler, optimizer hyper-parameters, numpy/python RNG,
                        loader, tokenizer, config, and every other file's size and sha256

`state.json` is written last: a folder without it is incomplete and ignored; a file whose size or sha256 differs
from what it records makes the checkpoint damaged, and a resume falls back to the newest intact one
(training.resume). With its tokenizer, one checkpoint folder is all that chat, eval and export need.

Weight names are frozen (the export reads them): embed.weight, blocks.N.attn_norm.weight, blocks.N.attn.wqkv.weight,
blocks.N.attn.wo.weight, blocks.N.mlp_norm.weight, blocks.N.mlp.w_gate_up.weight, blocks.N.mlp.w_down.weight,
norm.weight.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.distributed as dist
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from dataprep.errors import UserError
from training.model import GPT, GPTConfig
from training.runfolder import RunFolder, normalize

STATE = "state.json"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
RNG = "rng.safetensors"
TOKENIZER = "tokenizer.model"
CHECKPOINTS = "checkpoints"  # inside a run folder; Ray Train's storage for this run
STEP_DIR = re.compile(r"^step-(\d+)$")
CACHE = Path.home() / ".cache" / "training" / "checkpoints"  # remote checkpoints read by eval, chat, --init


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def optimizer_shard_name(rank: int, world: int) -> str:
    return f"optimizer-rank-{rank:05d}-of-{world:05d}.safetensors"


def is_dtensor(t: torch.Tensor) -> bool:
    return type(t).__name__ == "DTensor"


def local_part(t: torch.Tensor) -> torch.Tensor:
    """This rank's shard of an FSDP (DTensor) parameter or state, or the tensor itself."""
    return t.to_local() if is_dtensor(t) else t


def file_digest(path: str | Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


# --- RNG ----------------------------------------------------------------------------------------------------
def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = state
    np_state = np.random.get_state()
    py_state = random.getstate()
    plain = {
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, plain


def restore_rng(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(tensors) if k.startswith("cuda")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    name, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))


# --- optimizer state as named tensors + JSON ---------------------------------------------------------------
def optimizer_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """`{param_name}.{state_key}` -> this rank's tensor (a shard under FSDP)."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                out[f"{names[id(param)]}.{key}"] = local_part(value).detach().contiguous().cpu()
    return out


def optimizer_groups(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """The hyper-parameters of each parameter group (JSON), with its parameters by name."""
    names = {id(p): n for n, p in model.named_parameters()}
    groups = []
    for group in optimizer.param_groups:
        plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
        groups.append({**plain, "params": [names[id(p)] for p in group["params"]]})
    return groups


def load_optimizer(model, optimizer, tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> None:
    params = dict(model.named_parameters())
    index, state = {}, {}
    for i, name in enumerate(n for g in groups for n in g["params"]):
        index[name] = i
    for key, value in tensors.items():
        name, _, field = key.rpartition(".")
        param = params[name]
        if field != "step" and is_dtensor(param):  # a shard: give it the parameter's layout back
            from torch.distributed.tensor import DTensor

            value = DTensor.from_local(value.to(param.device), param.device_mesh, param.placements,
                                       shape=param.shape, stride=param.stride())
        state.setdefault(index[name], {})[field] = value
    mine = [[n for n, p in model.named_parameters() if id(p) in {id(q) for q in g["params"]}]
            for g in optimizer.param_groups]
    if mine != [g["params"] for g in groups]:
        raise UserError("the checkpoint's optimizer holds other parameters than this model; it is another run's")
    param_groups = [{**{k: (tuple(v) if k == "betas" else v) for k, v in g.items()}, "params": [index[n] for n in g["params"]]}
                    for g in groups]
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


# --- writing ------------------------------------------------------------------------------------------------
def gathered_weights(model: GPT) -> dict[str, torch.Tensor]:
    """The whole model's weights on CPU. Under FSDP every rank must call this (each tensor is all-gathered in
    turn, so at most one full parameter sits on the device at a time); the result matters on rank 0."""
    out = {}
    for name, value in model.state_dict().items():
        full = value.full_tensor() if is_dtensor(value) else value
        out[name] = full.detach().contiguous().cpu()
    return out


def save_checkpoint(
    directory: str | Path,
    model: GPT,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: dict[str, Any],
    tokenizer: Optional[bytes] = None,
    rank: int = 0,
    world: int = 1,
    sharded: bool = False,
) -> Path:
    """Write this rank's part of one checkpoint into a (local) folder. `model` is the bare GPT (not a DDP or
    compiled wrapper). Unsharded (one worker, DDP): rank 0 writes everything. Sharded (FSDP): every rank must
    call this; each writes its optimizer shard, rank 0 the gathered weights and state.json with every rank's
    file sizes and hashes. `tokenizer`: the sentencepiece model's bytes, whose sha256 must be
    state["tokenizer"]["sha256"]."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = gathered_weights(model) if sharded or rank == 0 else None
    if not sharded and rank != 0:
        return directory
    written: list[str] = []
    opt_name = optimizer_shard_name(rank, world) if sharded else OPTIMIZER
    save_file(optimizer_tensors(model, optimizer), directory / opt_name)
    written.append(opt_name)
    if rank == 0:
        if tokenizer is not None:
            sha = hashlib.sha256(tokenizer).hexdigest()
            if sha != state.get("tokenizer", {}).get("sha256"):
                raise ValueError(f"the tokenizer to save ({sha[:12]}) is not the run's ({state.get('tokenizer')})")
            (directory / TOKENIZER).write_bytes(tokenizer)
            written.append(TOKENIZER)
        save_file(weights, directory / WEIGHTS, metadata={"model_config": json.dumps(model.cfg.to_dict())})
        rng_tensors, rng_plain = capture_rng()
        save_file({k: v.contiguous() for k, v in rng_tensors.items()}, directory / RNG)
        written += [WEIGHTS, RNG]
    files = {name: dict(zip(("bytes", "sha256"), file_digest(directory / name))) for name in written}
    if sharded and world > 1:
        files = _gather_file_records(files, rank, world, opt_name)
    if rank != 0:
        return directory
    scheduler_state = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    full = {**state, "scheduler": scheduler_state, "optimizer": optimizer_groups(model, optimizer), "rng": rng_plain,
            "model_config": model.cfg.to_dict(), "sharded": sharded, "files": files}
    tmp = directory / (STATE + ".tmp")
    tmp.write_text(json.dumps(full, indent=1))
    tmp.replace(directory / STATE)
    return directory


def _gather_file_records(files: dict, rank: int, world: int, shard_name: str) -> dict:
    """Every rank's optimizer-shard size and sha256, to rank 0 (as tensors: nothing is pickled)."""
    mine = files[shard_name]
    record = torch.tensor([mine["bytes"]] + list(bytes.fromhex(mine["sha256"])), dtype=torch.int64)
    backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    record = record.to(backend_device)
    gathered = [torch.empty_like(record) for _ in range(world)]
    dist.all_gather(gathered, record)
    for r, rec in enumerate(gathered):
        values = rec.cpu().tolist()
        files[optimizer_shard_name(r, world)] = {"bytes": values[0], "sha256": bytes(values[1:]).hex()}
    return files


# --- reading ------------------------------------------------------------------------------------------------
def read_state(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / STATE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{directory} is not a complete checkpoint (no {STATE})") from None
    except ValueError:
        raise UserError(f"{path} is not valid JSON; the checkpoint is corrupt") from None


class DamagedCheckpoint(UserError):
    """A checkpoint file missing, or of another size or sha256 than its state.json records. `detail` names the
    file inside the checkpoint (the folder may be a local copy of a remote one)."""

    def __init__(self, path: Path, detail: str):
        super().__init__(f"{path.parent}/{detail}")
        self.detail = detail


def check_file(directory: Path, name: str, state: dict, whole: bool = True) -> None:
    """A checkpoint file against the size (and, when read whole, the sha256) that state.json records."""
    record = state.get("files", {}).get(name)
    path = directory / name
    if not path.is_file():
        raise DamagedCheckpoint(path, f"{name} is missing; the checkpoint is incomplete")
    if record is None:
        return  # written before checkpoints recorded their files
    size = path.stat().st_size
    if size != record["bytes"]:
        raise DamagedCheckpoint(path, f"{name} has {size:,} bytes, state.json records {record['bytes']:,}; "
                                      "the checkpoint is damaged")
    if whole and file_digest(path)[1] != record["sha256"]:
        raise DamagedCheckpoint(path, f"{name} does not match the sha256 in its state.json; the checkpoint is damaged")


def load_training_state(
    directory: str | Path,
    model: GPT,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rank: int = 0,
    world: int = 1,
) -> dict[str, Any]:
    """Load weights, optimizer, scheduler and RNG into the given objects (this rank's shards under FSDP); return
    state.json's content. Every file read is checked against state.json's sizes and hashes first."""
    directory = Path(directory)
    state = read_state(directory)
    sharded = bool(state.get("sharded"))
    if "optimizer" not in state or not (directory / RNG).is_file():
        raise UserError(f"{directory} was written by an earlier version of training (optimizer.pt); it can be "
                        "evaluated, chatted with and fine-tuned from (--init), but not resumed")
    if sharded and int(state["world_size"]) != world:
        raise UserError(f"{directory} holds optimizer shards of {state['world_size']} workers; resume with "
                        f"num_workers={state['world_size']}")
    if any(is_dtensor(p) for p in model.parameters()):
        check_file(directory, WEIGHTS, state, whole=False)  # read in slices: its size here, its hash by resume
        load_weight_shards(directory / WEIGHTS, model)
    else:
        check_file(directory, WEIGHTS, state)
        load_weights(directory, model)
    opt_name = optimizer_shard_name(rank, world) if sharded else OPTIMIZER
    for name in (opt_name, RNG):
        check_file(directory, name, state)
    tensors = load_file(str(directory / opt_name))  # on CPU: the optimizer moves each state to its parameter
    load_optimizer(model, optimizer, tensors, state["optimizer"])
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    restore_rng(load_file(str(directory / RNG)), state["rng"])
    return state


def load_weight_shards(path: Path, model: GPT) -> None:
    """Each FSDP parameter's rows of this rank, sliced out of the whole-model file (dim-0 sharding, as
    torch.chunk cuts it)."""
    with safe_open(str(path), framework="pt") as f:
        names = set(f.keys())
        for name, param in model.named_parameters():
            if name not in names:
                raise UserError(f"{path} does not fit this model (missing {name})")
            local = local_part(param)
            full_rows = param.shape[0]
            mesh = param.device_mesh
            rank, world = mesh.get_local_rank(), mesh.size()
            step = -(-full_rows // world)
            start = min(rank * step, full_rows)
            rows = f.get_slice(name)[start : start + local.shape[0]]
            if tuple(rows.shape) != tuple(local.shape):
                raise UserError(f"{path} does not fit this model ({name}: {tuple(rows.shape)} vs {tuple(local.shape)})")
            with torch.no_grad():
                local.copy_(rows)


def load_weights(directory: str | Path, model: GPT) -> None:
    path = Path(directory) / WEIGHTS
    try:
        weights = load_file(str(path), device=str(next(model.parameters()).device))
    except (FileNotFoundError, SafetensorError) as exc:
        raise UserError(f"cannot read weights from {path}: {exc}") from None
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shapes differ: another model's weights
        detail = next((ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln), str(exc).splitlines()[0])
        raise UserError(f"{path} does not fit this model ({detail})") from None
    if missing or unexpected:
        raise UserError(f"{path} does not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")


# --- finding checkpoints, at any URL ------------------------------------------------------------------------
def damage(folder: RunFolder, name: str, hashes: bool = False) -> Optional[str]:
    """Why RUN/checkpoints/NAME cannot be resumed from (None when intact): no or bad state.json, a file missing
    or of another size than state.json records, or (with `hashes`) another sha256."""
    where = f"{CHECKPOINTS}/{name}"
    text = folder.read_text(CHECKPOINTS, name, STATE)
    if text is None:
        return f"{where} has no {STATE}" if folder.exists(CHECKPOINTS, name) else f"{where} is missing"
    try:
        state = json.loads(text)
    except ValueError:
        return f"{where}/{STATE} is not valid JSON"
    present = folder.listdir(CHECKPOINTS, name)
    for file, record in (state.get("files") or {WEIGHTS: None}).items():
        entry = present.get(file)
        if entry is None:
            return f"{where}/{file} is missing"
        if record is None:
            continue
        if int(entry.get("size") or 0) != record["bytes"]:
            return f"{where}/{file} has {int(entry.get('size') or 0):,} bytes, state.json records {record['bytes']:,}"
        if hashes:
            digest = hashlib.sha256()
            with folder.fs.open(folder.fs_path(CHECKPOINTS, name, file), "rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
            if digest.hexdigest() != record["sha256"]:
                return f"{where}/{file} does not match the sha256 in its state.json"
    return None


def checkpoint_names(run: str | Path | RunFolder) -> list[str]:
    """Checkpoint folders of a run that have a state.json, oldest first (intact or not: see `damage`)."""
    folder = run if isinstance(run, RunFolder) else RunFolder(run)
    found = []
    for name, entry in folder.listdir(CHECKPOINTS).items():
        m = STEP_DIR.match(name)
        if m and entry.get("type") == "directory":
            found.append((int(m.group(1)), name))
    return [name for _, name in sorted(found) if folder.exists(CHECKPOINTS, name, STATE)]


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Intact checkpoint folders of a local run, oldest first."""
    folder = RunFolder(run_dir)
    return [Path(folder.fs_path(CHECKPOINTS, n)) for n in checkpoint_names(folder) if damage(folder, n) is None]


def find_checkpoint(path: str | Path) -> str:
    """A checkpoint folder's URL, given itself or a run folder (meaning its newest intact checkpoint)."""
    url = normalize(path)
    folder = RunFolder(url)
    if folder.exists(STATE):
        return url
    if not folder.exists():
        raise UserError(f"checkpoint {url} does not exist")
    for name in reversed(checkpoint_names(folder)):
        if damage(folder, name) is None:
            return folder.url_of(CHECKPOINTS, name)
    raise UserError(f"{url} holds no complete checkpoint (expected {url}/{CHECKPOINTS}/step-*/{STATE})")


def local_checkpoint(url: str) -> Path:
    """A local folder holding the checkpoint at `url`: itself when local, else a verified copy in the cache."""
    folder = RunFolder(url)
    if folder.is_local:
        return Path(folder.path)
    text = folder.read_text(STATE)
    if text is None:
        raise UserError(f"{url} is not a complete checkpoint (no {STATE})")
    key = hashlib.sha256((url + "\n" + text).encode()).hexdigest()[:20]
    local = CACHE / key
    if (local / STATE).is_file():
        return local
    tmp = CACHE / f".{key}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    folder.download("", tmp)
    state = json.loads(text)
    for name in state.get("files", {}):
        check_file(tmp, name, state)
    (tmp / STATE).write_text(text)  # the one that was checked, even if the remote changed meanwhile
    shutil.rmtree(local, ignore_errors=True)
    tmp.rename(local)
    return local


def resolve_checkpoint(path: str | Path) -> Path:
    """A local checkpoint folder for a checkpoint or run folder at any URL (its newest intact checkpoint)."""
    return local_checkpoint(find_checkpoint(path))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[GPT, dict[str, Any], Path]:
    """The model of a checkpoint (or a run folder's latest), its state.json and the local folder it came from."""
    directory = resolve_checkpoint(path)
    state = read_state(directory)
    model = GPT(GPTConfig.from_dict(state["model_config"])).to(device)
    load_weights(directory, model)
    return model, state, directory


def read_tokenizer(directory: str | Path) -> bytes:
    """The checkpoint's tokenizer.model, checked against the sha256 its state.json records."""
    directory = Path(directory)
    state = read_state(directory)
    path = directory / TOKENIZER
    if not path.is_file():
        raise UserError(f"{directory} has no {TOKENIZER}; it was written before checkpoints carried their tokenizer")
    data = path.read_bytes()
    expected = state.get("tokenizer", {}).get("sha256")
    if hashlib.sha256(data).hexdigest() != expected:
        raise UserError(f"{path} does not match the sha256 in {directory / STATE}; the checkpoint is corrupt")
    return data


def build_reference(path: str | Path, device: str | torch.device = "cpu") -> GPT:
    """A checkpoint's model, frozen: DPO's reference."""
    model, _, _ = load_model(path, device)
    model.requires_grad_(False)
    model.eval()
    if torch.device(device).type == "cpu":
        from training.cpu_kernels import use_cpu_kernels

        use_cpu_kernels(model)
    return model


def damaged_newest(folder: RunFolder) -> tuple[list[tuple[str, str]], Optional[str]]:
    """The checkpoints newer than the newest intact one (by file sizes), newest first, each with why; and the
    intact one (None when there is none)."""
    damaged = []
    for name in reversed(checkpoint_names(folder)):
        why = damage(folder, name)
        if why is None:
            return damaged, name
        damaged.append((name, why))
    return damaged, None


def latest_state(run_dir: str | Path) -> Optional[dict[str, Any]]:
    """state.json of a run's newest intact checkpoint (sizes checked), at any URL."""
    folder = RunFolder(run_dir)
    _, intact = damaged_newest(folder)
    return json.loads(folder.read_text(CHECKPOINTS, intact, STATE)) if intact else None
