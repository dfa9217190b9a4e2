"""A trained tokenizer loaded from any fsspec URL, cached once per process (Ray reuses worker processes)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Optional

import sentencepiece as spm

from dataprep.dataset import storage
from dataprep.dataset.schemas import token_dtype
from dataprep.errors import UserError
from dataprep.tokenizer import specials

_CACHE: dict[str, "Tokenizer"] = {}
_LOCK = threading.Lock()


@dataclass
class Tokenizer:
    sp: spm.SentencePieceProcessor
    sha256: str
    url: str

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def dtype(self):
        return token_dtype(self.vocab_size).to_pandas_dtype()

    @property
    def special_tokens(self) -> dict[str, int]:
        found = {}
        for piece in specials.SPECIAL_TOKENS:
            idx = self.sp.piece_to_id(piece)
            # piece_to_id answers unk_id for unknown pieces; only <unk> itself may map there.
            if idx != self.sp.unk_id() or piece == specials.UNK:
                found[piece] = idx
        return found

    def id(self, piece: str) -> int:
        ids = self.special_tokens
        if piece not in ids:
            raise UserError(f"tokenizer {self.url} has no {piece} token; train it with `dataprep tokenizer`")
        return ids[piece]

    @property
    def eos_id(self) -> int:
        return self.id(specials.EOS)

    @property
    def pad_id(self) -> Optional[int]:
        return self.special_tokens.get(specials.PAD)

    def has_chat_tokens(self) -> bool:
        return all(p in self.special_tokens for p in specials.CHAT_TOKENS)

    def info(self) -> dict[str, Any]:
        """What a tokens manifest records under provenance["tokenizer"]; training checks it."""
        return {
            "sha256": self.sha256,
            "vocab_size": self.vocab_size,
            "special_tokens": self.special_tokens,
            "eos_id": self.eos_id,
            "pad_id": self.pad_id,
            "model": self.url,
        }

    def encode(self, texts: list[str], threads: int = 1) -> list:
        """Each text's ids as an int32 array, encoded in sentencepiece's C++ thread pool."""
        return self.sp.encode_as_numpy(texts, num_threads=threads)

    def decode(self, ids) -> str:
        return self.sp.decode([int(i) for i in ids])


def read_model_bytes(url: str) -> bytes:
    try:
        fs, path = storage.resolve(url)
        return fs.cat_file(path)
    except FileNotFoundError:
        raise UserError(f"tokenizer model {url} does not exist; train one with `dataprep tokenizer`") from None


def from_bytes(data: bytes, url: str) -> Tokenizer:
    sp = spm.SentencePieceProcessor()
    try:
        sp.load_from_serialized_proto(data)
    except (RuntimeError, OSError) as exc:
        raise UserError(f"{url} is not a sentencepiece model ({str(exc).splitlines()[0]})") from None
    return Tokenizer(sp, hashlib.sha256(data).hexdigest(), url)


def load_tokenizer(url: str, sha256: Optional[str] = None) -> Tokenizer:
    """The model at `url`, loaded once per process; refuses a file whose hash is not `sha256`."""
    key = f"{url}@{sha256}"
    with _LOCK:
        if sha256 is not None and key in _CACHE:
            return _CACHE[key]
        tok = from_bytes(read_model_bytes(url), url)
        if sha256 is not None and tok.sha256 != sha256:
            raise UserError(f"tokenizer {url} changed while the job ran (sha256 {tok.sha256[:12]}, expected {sha256[:12]})")
        _CACHE[f"{url}@{tok.sha256}"] = tok
        return tok
