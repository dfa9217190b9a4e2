"""Text generation with a KV cache: prefill the prompt once, then one token per forward pass. No Ray.

The cache holds every layer's keys and values; the model writes a call's new positions at the cache's position
and rotates them by their absolute positions (RoPE offset by the cache position), so a decoded token sees
exactly what it would in a full forward pass over the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import torch

from training.model import GPT


class KVCache:
    """Keys and values (layers, B, kv_heads, max_len, head_dim); `pos` positions are filled."""

    def __init__(self, n_layer: int, batch: int, n_kv_head: int, max_len: int, head_dim: int,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        shape = (n_layer, batch, n_kv_head, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.pos = 0

    @classmethod
    def for_model(cls, model: GPT, batch: int = 1, max_len: Optional[int] = None) -> "KVCache":
        cfg = model.cfg
        weight = model.head_weight
        return cls(cfg.n_layer, batch, cfg.n_kv_head, max_len or cfg.max_seq_len, cfg.head_dim, weight.device,
                   weight.dtype)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this call's k, v (B, H, T, D) at the current position; return every position so far."""
        T = k.shape[2]
        if self.pos + T > self.max_len:
            raise ValueError(f"KV cache full: {self.pos} + {T} positions exceed {self.max_len}")
        self.k[layer, :, :, self.pos : self.pos + T] = k
        self.v[layer, :, :, self.pos : self.pos + T] = v
        return self.k[layer, :, :, : self.pos + T], self.v[layer, :, :, : self.pos + T]

    def advance(self, n: int) -> None:
        """Called by the model after every layer has written its n new positions."""
        self.pos += n

    def reset(self) -> None:
        self.pos = 0


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7  # 0: greedy
    top_k: int = 50  # 0: no limit
    top_p: float = 0.9  # 1: no limit
    seed: Optional[int] = 0


def next_token(logits: torch.Tensor, sampling: Sampling, generator: Optional[torch.Generator]) -> int:
    """One token from the last position's logits (V,): greedy, or sampled after temperature, top-k and top-p."""
    logits = logits.float()
    if sampling.temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / sampling.temperature
    if sampling.top_k and sampling.top_k < logits.numel():
        kth = torch.topk(logits, sampling.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=0) - sorted_probs  # mass of the tokens ranked above
        sorted_probs[before >= sampling.top_p] = 0.0  # the smallest set reaching top_p (the top token always stays)
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def generate(
    model: GPT,
    prompt: Sequence[int],
    max_new_tokens: int,
    sampling: Sampling = Sampling(),
    stop: Sequence[int] = (),
    cache: Optional[KVCache] = None,
    generator: Optional[torch.Generator] = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[int]:
    """Yield new tokens one by one (the stop token is not yielded) until a stop token, `max_new_tokens`, the
    model's context, or `should_stop()`. The prompt is prefilled in one forward pass."""
    if not prompt:
        raise ValueError("generation needs a prompt of at least one token")
    device = model.head_weight.device
    if cache is None:
        cache = KVCache.for_model(model)
    cache.reset()
    if generator is None and sampling.seed is not None:
        generator = torch.Generator(device="cpu").manual_seed(sampling.seed)
    room = cache.max_len - len(prompt)
    if room <= 0:
        raise ValueError(f"a prompt of {len(prompt)} tokens leaves no room in a context of {cache.max_len}")
    logits = model(torch.tensor([list(prompt)], device=device), cache=cache)[0, -1]
    for _ in range(min(max_new_tokens, room)):
        token = next_token(logits.cpu(), sampling, generator)
        if token in stop or should_stop():
            return
        yield token
        if cache.pos >= cache.max_len:
            return
        logits = model(torch.tensor([[token]], device=device), cache=cache)[0, -1]


@torch.no_grad()
def generate_without_cache(model: GPT, prompt: Sequence[int], max_new_tokens: int, stop: Sequence[int] = ()) -> list[int]:
    """Greedy decoding by a full forward pass over the whole sequence at every step: the reference the cache must
    reproduce exactly."""
    device = model.head_weight.device
    tokens = list(prompt)
    out = []
    for _ in range(min(max_new_tokens, model.cfg.max_seq_len - len(tokens))):
        token = int(torch.argmax(model(torch.tensor([tokens], device=device))[0, -1]))
        if token in stop:
            break
        out.append(token)
        tokens.append(token)
    return out
