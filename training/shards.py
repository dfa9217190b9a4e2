"""Token datasets as one flat, memory-mapped token stream.

A `tokens` dataset's shards are uncompressed Arrow IPC files; memory-mapping one and taking the list
column's child buffer gives every token of every document, end to end, without a copy. Shards on an
object store are first staged to local disk (verified by their sha256) so they can be mapped too.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa

from dataprep.dataset import Dataset, open_dataset, storage
from dataprep.errors import UserError

DEFAULT_CACHE = Path(os.environ.get("TRAINING_CACHE", Path.home() / ".cache" / "training" / "shards"))


@dataclass(frozen=True)
class TokenizerInfo:
    sha256: str
    vocab_size: int
    eos_id: int
    pad_id: Optional[int] = None

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "vocab_size": self.vocab_size, "eos_id": self.eos_id, "pad_id": self.pad_id}


def tokenizer_info(ds: Dataset) -> TokenizerInfo:
    tok = ds.manifest.provenance.get("tokenizer")
    if not isinstance(tok, dict) or not {"sha256", "vocab_size", "eos_id"} <= set(tok):
        raise UserError(
            f"{ds.url} does not record its tokenizer (provenance.tokenizer with sha256, vocab_size, eos_id); "
            "re-tokenize it with `dataprep tokenize`"
        )
    return TokenizerInfo(str(tok["sha256"]), int(tok["vocab_size"]), int(tok["eos_id"]), tok.get("pad_id"))


def same_tokenizer(infos: Sequence[tuple[str, TokenizerInfo]]) -> TokenizerInfo:
    """The one tokenizer shared by all datasets; mixing tokenizers would silently scramble the ids."""
    (first_url, first), *rest = infos
    for url, info in rest:
        if info.sha256 != first.sha256:
            raise UserError(
                f"{url} was tokenized with tokenizer {info.sha256[:12]}, but {first_url} with {first.sha256[:12]}; "
                "re-tokenize one of them with the same tokenizer model"
            )
    return first


def stage_shard(ds: Dataset, index: int, cache_dir: Optional[str | Path] = None) -> str:
    """A local path for shard `index`: itself when local, else a verified copy in the cache (by content hash)."""
    url = ds.shard_url(index)
    fs, path = storage.resolve(url)
    if storage.is_local(fs):
        return path
    shard = ds.shards[index]
    cache = Path(cache_dir or DEFAULT_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    local = cache / f"{shard.sha256}.arrow"
    if local.exists() and local.stat().st_size == shard.bytes:
        return str(local)
    tmp = cache / f".{shard.sha256}.{uuid.uuid4().hex}.tmp"
    fs.get_file(path, str(tmp))
    digest = hashlib.sha256()
    with open(tmp, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    if digest.hexdigest() != shard.sha256:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{url} does not match the sha256 in its manifest; the dataset changed or is corrupt")
    os.replace(tmp, local)  # atomic: concurrent workers staging the same shard both end with a whole file
    return str(local)


def _terminated(values: np.ndarray, offsets: np.ndarray, eos_id: int) -> np.ndarray:
    """The chunk's tokens with every document ending in end-of-text (the tokenize stage already does this)."""
    lengths = np.diff(offsets)
    ends = offsets[1:] - offsets[0] - 1
    nonempty = lengths > 0
    if np.all(values[ends[nonempty]] == eos_id) and nonempty.all():
        return values  # the common case: zero-copy
    pieces = []
    for start, stop in zip(offsets[:-1] - offsets[0], offsets[1:] - offsets[0]):
        doc = values[start:stop]
        pieces.append(doc)
        if doc.size == 0 or doc[-1] != eos_id:
            pieces.append(np.array([eos_id], dtype=values.dtype))
    return np.concatenate(pieces) if pieces else values[:0]


def shard_segments(path: str, eos_id: int) -> list[np.ndarray]:
    """The flat token arrays of one shard file, one per record batch, memory-mapped."""
    try:
        table = pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path} is not a readable Arrow IPC file ({exc})") from None
    if "tokens" not in table.column_names:
        raise UserError(f"{path} has no tokens column; is it a tokens dataset?")
    segments = []
    for chunk in table.column("tokens").chunks:
        offsets = chunk.offsets.to_numpy()
        try:
            values = chunk.values.to_numpy(zero_copy_only=True)
        except pa.ArrowInvalid:
            raise UserError(f"{path} is compressed; token shards must be uncompressed to be memory-mapped") from None
        values = values[offsets[0] : offsets[-1]]  # a sliced batch may carry unreferenced values
        seg = _terminated(values, offsets, eos_id)
        if seg.size:
            segments.append(seg)
    return segments


class TokenStream:
    """All documents of one or more token datasets, joined end to end, addressable by global token index."""

    def __init__(self, segments: list[np.ndarray], fingerprint: str, tokenizer: TokenizerInfo):
        self.segments = segments
        self.fingerprint = fingerprint
        self.tokenizer = tokenizer
        sizes = np.array([s.size for s in segments], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.num_tokens = int(self.starts[-1])

    def read(self, start: int, out: np.ndarray) -> None:
        """Fill `out` with tokens [start, start + len(out)), widening dtype as it copies."""
        n = out.shape[0]
        seg = int(np.searchsorted(self.starts, start, side="right")) - 1
        pos = start - int(self.starts[seg])
        filled = 0
        while filled < n:  # almost always one iteration: windows rarely straddle two record batches
            chunk = self.segments[seg][pos : pos + n - filled]
            out[filled : filled + chunk.size] = chunk
            filled += chunk.size
            seg, pos = seg + 1, 0


def open_token_stream(
    urls: str | Sequence[str],
    cache_dir: Optional[str | Path] = None,
    expect_tokenizer: Optional[str] = None,
) -> TokenStream:
    """Open token datasets as one stream; refuse mixed tokenizers (and one other than `expect_tokenizer`)."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    datasets = [open_dataset(u, kind="tokens") for u in urls]
    infos = [(ds.url, tokenizer_info(ds)) for ds in datasets]
    if expect_tokenizer is not None:
        infos.insert(0, ("the run's tokenizer", TokenizerInfo(expect_tokenizer, 0, 0)))
    same_tokenizer(infos)
    tokenizer = tokenizer_info(datasets[0])
    segments: list[np.ndarray] = []
    digest = hashlib.sha256()
    for ds in datasets:
        for i, shard in enumerate(ds.shards):
            digest.update(shard.sha256.encode())
            segments.extend(shard_segments(stage_shard(ds, i, cache_dir), tokenizer.eos_id))
    if not segments:
        raise UserError(f"{', '.join(urls)} holds no tokens")
    return TokenStream(segments, digest.hexdigest(), tokenizer)
