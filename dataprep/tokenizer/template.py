"""The chat template: conversations -> token ids and a loss mask, on ids (never by pasting marker strings into text).

    <|system|> system text <|end|> <|user|> question <|end|> <|assistant|> answer <|end|> ... <|endoftext|>

Each message is its role token, its content's ids, then <|end|>; the conversation ends with <|endoftext|>.
The mask is 1 on the content and <|end|> of every *trained* message (the assistant turns for SFT, the response
turns for DPO) and 0 elsewhere. `render` is the readable reference; `render_batch` does a whole shard with
numpy index arithmetic and must give the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from dataprep.tokenizer import specials


@dataclass(frozen=True)
class ChatIds:
    role: tuple[int, int, int]  # system, user, assistant
    end: int
    eos: int

    @classmethod
    def of(cls, tokenizer) -> "ChatIds":
        return cls(
            role=tuple(tokenizer.id(specials.ROLE_TOKENS[r]) for r in specials.ROLES),
            end=tokenizer.id(specials.END),
            eos=tokenizer.eos_id,
        )


def role_code(role: str) -> int:
    return specials.ROLES.index(role)


def render(
    messages: Sequence[dict], encode: Callable[[str], list[int]], ids: ChatIds, trained: Sequence[bool] | None = None
) -> tuple[list[int], list[int]]:
    """One conversation's tokens and mask. `trained[i]` says whether message i is learned (default: assistant)."""
    if trained is None:
        trained = [m["role"] == "assistant" for m in messages]
    tokens: list[int] = []
    mask: list[int] = []
    for message, learn in zip(messages, trained):
        content = list(encode(message["content"]))
        tokens += [ids.role[role_code(message["role"])], *content, ids.end]
        mask += [0] + [int(learn)] * (len(content) + 1)
    return tokens + [ids.eos], mask + [0]


def generation_prompt(messages: Sequence[dict], encode: Callable[[str], list[int]], ids: ChatIds) -> list[int]:
    """What a chat model is given: the conversation so far (no <|endoftext|>) and <|assistant|>; it stops at <|end|>."""
    tokens, _ = render(messages, encode, ids)
    return tokens[:-1] + [ids.role[role_code("assistant")]]


def render_batch(
    conv_sizes: np.ndarray,
    roles: np.ndarray,
    contents: Sequence[np.ndarray],
    trained: np.ndarray,
    ids: ChatIds,
    dtype,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many conversations at once: (offsets int64, tokens, mask uint8), the flat arrays of a large_list column.

    conv_sizes: messages per conversation; roles (role codes), contents (ids) and trained: one per message, in order.
    """
    conv_sizes = np.asarray(conv_sizes, dtype=np.int64)
    n_conv, n_msg = len(conv_sizes), len(roles)
    lengths = np.fromiter((len(c) for c in contents), dtype=np.int64, count=n_msg)
    seg = lengths + 2  # role token + content + <|end|>
    conv_of_msg = np.repeat(np.arange(n_conv), conv_sizes)
    # Each message starts after all earlier messages plus one <|endoftext|> per earlier conversation.
    msg_start = np.concatenate([[0], np.cumsum(seg)[:-1]]) + conv_of_msg if n_msg else np.zeros(0, np.int64)
    conv_len = np.bincount(conv_of_msg, weights=seg, minlength=n_conv).astype(np.int64) + 1
    offsets = np.concatenate([[0], np.cumsum(conv_len)]).astype(np.int64)
    total = int(offsets[-1])

    tokens = np.empty(total, dtype=dtype)
    mask = np.zeros(total, dtype=np.uint8)
    role_ids = np.asarray(ids.role, dtype=np.int64)
    tokens[msg_start] = role_ids[np.asarray(roles, dtype=np.int64)]
    end_pos = msg_start + 1 + lengths
    tokens[end_pos] = ids.end
    tokens[offsets[1:] - 1] = ids.eos
    if lengths.sum():
        flat = np.concatenate(contents)
        content_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pos = np.repeat(msg_start + 1 - content_start, lengths) + np.arange(flat.size)
        tokens[pos] = flat
        mask[pos] = np.repeat(np.asarray(trained, dtype=np.uint8), lengths)
    mask[end_pos] = np.asarray(trained, dtype=np.uint8)
    return offsets, tokens, mask
