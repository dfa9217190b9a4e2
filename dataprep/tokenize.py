"""`dataprep tokenize`: a documents, dialogues or preferences dataset -> a `tokens` dataset, one shard per input shard.

Layouts (recorded as provenance["token_layout"]; columns in `dataprep.dataset.schemas.tokens_schema`):
- documents:   each document's ids + <|endoftext|>
- dialogues:   the chat template; loss_mask 1 on assistant content and its <|end|>
- preferences: tokens = prompt + chosen response, rejected_tokens = prompt + rejected response, both rendered
               with the chat template; masks are 1 on the response turns only; prompt_tokens = the shared prefix length
The tokenizer is loaded once per worker process (a module cache keyed by its sha256) and each shard is encoded
with one batched sentencepiece call.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.dataset.reader import open_dataset
from dataprep.dataset.schemas import tokens_schema
from dataprep.dataset.stats import Stats
from dataprep.errors import UserError
from dataprep.mapjob import DatasetMapJob
from dataprep.tokenizer.encode import encode_documents, large_list
from dataprep.tokenizer.model import load_tokenizer
from dataprep.tokenizer.stats import record_token_stats
from dataprep.tokenizer.template import ChatIds, render_batch

LAYOUTS = ("documents", "dialogues", "preferences")  # the input kind names the layout
THREADS_PER_TASK = 1  # the executor gives each shard task one CPU


class TokenizeJob(DatasetMapJob):
    name = "tokenize"
    kind = "tokens"
    input_kinds = LAYOUTS
    compression = None  # memory-mapped by training

    def __init__(self, in_url: str, out_url: str, tokenizer_url: str, threads: int = THREADS_PER_TASK):
        source = open_dataset(in_url, kind=LAYOUTS)
        tok = load_tokenizer(tokenizer_url)
        if source.kind != "documents" and not tok.has_chat_tokens():
            raise UserError(f"tokenizer {tokenizer_url} lacks the chat tokens; train it with `dataprep tokenizer`")
        self.layout = source.kind
        self.tokenizer_url = tokenizer_url
        self.tokenizer_info = tok.info()
        self.schema = tokens_schema(tok.vocab_size, self.layout)
        self.threads = threads
        super().__init__(in_url, out_url, {"tokenizer_sha256": tok.sha256, "layout": self.layout}, source=source)

    def extra_provenance(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer_info, "token_layout": self.layout}

    def shard_tokens(self, table: pa.Table) -> Optional[int]:
        columns = ["tokens", "rejected_tokens"] if self.layout == "preferences" else ["tokens"]
        return sum(_values_count(table[c]) for c in columns)

    def transform(self, table: pa.Table, stats: Stats) -> pa.Table:
        tok = load_tokenizer(self.tokenizer_url, self.tokenizer_info["sha256"])
        if self.layout == "documents":
            out = self._documents(tok, table, stats)
        elif self.layout == "dialogues":
            out = self._dialogues(tok, table, stats)
        else:
            out = self._preferences(tok, table, stats)
        stats.record_stage(self.name, table.num_rows, out.num_rows)
        return out

    def _documents(self, tok, table: pa.Table, stats: Stats) -> pa.Table:
        texts = table["text"].to_pylist()
        offsets, values, lengths = encode_documents(tok, texts, self.threads)
        text_bytes = pc.binary_length(table["text"]).to_numpy(zero_copy_only=False).astype(np.int64)
        record_token_stats(stats, lengths, text_bytes, lengths - 1, _column(table, "lang"))
        tokens = large_list(offsets, values, self.schema.field("tokens").type.value_type)
        return pa.Table.from_arrays([table["id"].combine_chunks(), tokens], schema=self.schema)

    def _dialogues(self, tok, table: pa.Table, stats: Stats) -> pa.Table:
        conv = _Conversations.of(table["messages"], tok, self.threads)
        trained = conv.roles == 2
        offsets, values, mask = render_batch(conv.sizes, conv.roles, conv.ids, trained, ChatIds.of(tok), tok.dtype)
        record_token_stats(stats, np.diff(offsets), conv.per_conv(conv.bytes), conv.per_conv(conv.lengths),
                           _column(table, "lang"), int(mask.sum()))
        columns = [table["id"].combine_chunks(), large_list(offsets, values, self.schema.field("tokens").type.value_type),
                   large_list(offsets, mask, pa.uint8())]
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _preferences(self, tok, table: pa.Table, stats: Stats) -> pa.Table:
        # One sentencepiece call for the prompts and both responses of the whole shard.
        parts = [_Conversations.flat(table[c]) for c in ("prompt", "chosen", "rejected")]
        ids = tok.encode([t for p in parts for t in p.contents], self.threads)
        bounds = np.cumsum([0] + [len(p.contents) for p in parts])
        for p, a, b in zip(parts, bounds[:-1], bounds[1:]):
            p.set_ids(ids[a:b])
        prompt, chosen, rejected = parts
        chat = ChatIds.of(tok)
        value_type = self.schema.field("tokens").type.value_type
        columns = [table["id"].combine_chunks()]
        masked, row_tokens = 0, 0
        for side in (chosen, rejected):
            sizes, roles, contents, trained = _join(prompt, side)
            offsets, values, mask = render_batch(sizes, roles, contents, trained, chat, tok.dtype)
            columns += [large_list(offsets, values, value_type), large_list(offsets, mask, pa.uint8())]
            masked += int(mask.sum())
            row_tokens = row_tokens + np.diff(offsets)  # a pair counts both of its sequences
        prompt_len = prompt.per_conv(prompt.lengths + 2)
        columns.append(pa.array(prompt_len, pa.uint32()))
        content = sum(p.per_conv(p.lengths) for p in parts)
        text_bytes = sum(p.per_conv(p.bytes) for p in parts)
        record_token_stats(stats, row_tokens, text_bytes, content, _column(table, "lang"), masked)
        return pa.Table.from_arrays(columns, schema=self.schema)


class _Conversations:
    """A messages column flattened: one entry per message, plus messages per conversation."""

    def __init__(self, sizes: np.ndarray, roles: np.ndarray, contents: list[str], content_bytes: np.ndarray):
        self.sizes, self.roles, self.contents, self.bytes = sizes, roles, contents, content_bytes
        self.ids: list = []
        self.lengths = np.zeros(0, np.int64)

    @classmethod
    def flat(cls, messages: pa.ChunkedArray) -> "_Conversations":
        messages = messages.combine_chunks()
        sizes = pc.list_value_length(messages).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        structs = pc.list_flatten(messages)
        role_names = pc.struct_field(structs, "role")
        roles = np.select(
            [pc.equal(role_names, r).to_numpy(zero_copy_only=False) for r in ("system", "user", "assistant")],
            [0, 1, 2], default=1,
        ).astype(np.int64)
        content = pc.struct_field(structs, "content")
        content_bytes = pc.binary_length(content).to_numpy(zero_copy_only=False).astype(np.int64)
        return cls(sizes, roles, content.to_pylist(), content_bytes)

    @classmethod
    def of(cls, messages: pa.ChunkedArray, tok, threads: int) -> "_Conversations":
        conv = cls.flat(messages)
        conv.set_ids(tok.encode(conv.contents, threads))
        return conv

    def set_ids(self, ids: list) -> None:
        self.ids = list(ids)
        self.lengths = np.fromiter((len(i) for i in self.ids), dtype=np.int64, count=len(self.ids))

    def per_conv(self, per_message: np.ndarray) -> np.ndarray:
        """Sum a per-message quantity over each conversation."""
        owner = np.repeat(np.arange(len(self.sizes)), self.sizes)
        return np.bincount(owner, weights=per_message, minlength=len(self.sizes)).astype(np.int64)

    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)


def _join(prompt: _Conversations, response: _Conversations):
    """Per pair: the prompt's messages then the response's, with only the response trained."""
    sizes = prompt.sizes + response.sizes
    roles, contents, trained = [], [], []
    for p0, pn, r0, rn in zip(prompt.starts(), prompt.sizes, response.starts(), response.sizes):
        roles += [prompt.roles[p0:p0 + pn], response.roles[r0:r0 + rn]]
        contents += prompt.ids[p0:p0 + pn] + response.ids[r0:r0 + rn]
        trained += [np.zeros(pn, bool), response.roles[r0:r0 + rn] == 2]
    cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt))
    return sizes, cat(roles, np.int64), contents, cat(trained, bool)


def _column(table: pa.Table, name: str) -> Optional[pa.Array]:
    return table[name].combine_chunks() if name in table.column_names else None


def _values_count(column: pa.ChunkedArray) -> int:
    return int(sum(int(c.offsets[-1].as_py()) - int(c.offsets[0].as_py()) for c in column.chunks if len(c)))
