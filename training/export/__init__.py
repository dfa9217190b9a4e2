"""`training export`: a checkpoint as a Hugging Face transformers model and tokenizer (LlamaForCausalLM), exact.

    DIR/config.json                 LlamaForCausalLM config (training.export.llama)
    DIR/generation_config.json      stops at <|end|> and <|endoftext|>
    DIR/model.safetensors           Llama's weight names, q/k rows in Llama's RoPE layout, tied (no lm_head)
    DIR/tokenizer.model             our sentencepiece model, as trained
    DIR/tokenizer.json, tokenizer_config.json, special_tokens_map.json   (training.export.hf_tokenizer)
    DIR/raylm_export.json           where it came from: checkpoint, step, sha256s, dtype

Needs only torch, safetensors and sentencepiece: no Ray, no GPU, no training data, no transformers. The tests
load the folder with transformers and compare logits, greedy generation and token ids with ours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dataprep.dataset import storage
from dataprep.errors import UsageError, UserError
from dataprep.tokenizer.model import read_model_bytes
from training.checkpoint import STATE, TOKENIZER, WEIGHTS, read_state, read_tokenizer, resolve_checkpoint
from training.export import hf_tokenizer
from training.export.folder import FORMAT, MARKER, check_output, staged_folder
from training.export.llama import DTYPES, check_weights, generation_config, llama_config, llama_weights
from training.model import GPTConfig


@dataclass(frozen=True)
class ExportResult:
    output: Path
    checkpoint: Path
    step: int
    dtype: str
    vocab_size: int  # the embedding's rows (config.json)
    tokenizer_pieces: int  # ids the tokenizer can produce: 0 .. tokenizer_pieces - 1

    def to_dict(self) -> dict:
        return {"output": str(self.output), "checkpoint": str(self.checkpoint), "step": self.step,
                "dtype": self.dtype, "vocab_size": self.vocab_size, "tokenizer_pieces": self.tokenizer_pieces}


def checkpoint_tokenizer(directory: Path, state: dict, tokenizer: Optional[str]) -> bytes:
    """The run's sentencepiece model: the checkpoint's own, or `--tokenizer MODEL` (checkpoints written before
    they carried it), checked against the sha256 that state.json records when it records one."""
    if tokenizer is None:
        if not (directory / TOKENIZER).is_file():
            raise UserError(f"{directory} has no {TOKENIZER} (written before checkpoints carried their tokenizer); "
                            "pass --tokenizer MODEL, the .model the run's data was tokenized with")
        return read_tokenizer(directory)
    data = read_model_bytes(tokenizer)
    expected = (state.get("tokenizer") or {}).get("sha256")
    actual = hashlib.sha256(data).hexdigest()
    if expected and actual != expected:
        raise UserError(f"--tokenizer {tokenizer} has sha256 {actual[:12]}, but the run was trained with tokenizer "
                        f"{expected[:12]} ({directory / STATE})")
    return data


def _json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def export_checkpoint(checkpoint: str | Path, output: str | Path, dtype: str = "float32",
                      tokenizer: Optional[str] = None, overwrite: bool = False) -> ExportResult:
    """Write the Hugging Face folder `output` for a checkpoint (or a run folder's latest checkpoint)."""
    if dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    if "://" in str(output):
        raise UsageError(f"-o {output}: export writes a local folder; copy it to object storage afterwards")
    out = Path(output).expanduser().absolute()
    directory = resolve_checkpoint(checkpoint)
    check_output(out, directory, Path(checkpoint), overwrite)

    state = read_state(directory)
    cfg = GPTConfig.from_dict(state["model_config"])
    sp_bytes = checkpoint_tokenizer(directory, state, tokenizer)
    sp_name = tokenizer or str(directory / TOKENIZER)
    proto = hf_tokenizer.parse_model(sp_bytes, sp_name)
    hf_tokenizer.check_exportable(proto, sp_name)
    pieces = len(proto.pieces)
    if pieces > cfg.vocab_size:
        raise UserError(f"the tokenizer has {pieces} pieces but the model only {cfg.vocab_size} embedding rows")
    ids = hf_tokenizer.special_ids(proto)

    weights_path = directory / WEIGHTS
    try:
        weights = load_file(str(weights_path))
    except (FileNotFoundError, SafetensorError) as exc:
        raise UserError(f"cannot read weights from {weights_path}: {exc}") from None
    check_weights(weights, cfg, str(weights_path))

    with staged_folder(out) as tmp:
        save_file(llama_weights(weights, cfg, DTYPES[dtype]), tmp / "model.safetensors", metadata={"format": "pt"})
        del weights
        _json(tmp / "config.json", llama_config(cfg, ids, dtype))
        _json(tmp / "generation_config.json", generation_config(ids))
        (tmp / "tokenizer.model").write_bytes(sp_bytes)
        _json(tmp / "tokenizer.json", hf_tokenizer.tokenizer_json(proto))
        _json(tmp / "tokenizer_config.json", hf_tokenizer.tokenizer_config(proto, cfg.max_seq_len))
        _json(tmp / "special_tokens_map.json", hf_tokenizer.special_tokens_map())
        _json(tmp / MARKER, {
            "format": FORMAT,
            "checkpoint": str(directory.absolute()),
            "step": state.get("step"),
            "weights_sha256": storage.sha256_file(*storage.resolve(str(weights_path))),
            "tokenizer_sha256": hashlib.sha256(sp_bytes).hexdigest(),
            "dtype": dtype,
            "vocab_size": cfg.vocab_size,
            "tokenizer_pieces": pieces,
        })
    return ExportResult(out, directory, int(state.get("step", 0)), dtype, cfg.vocab_size, pieces)
