"""A decoder-only transformer: RoPE, RMSNorm, SwiGLU, grouped-query attention, tied embeddings.

Pure torch: no Ray, no data code, no parallelism. DDP, `torch.compile` and autocast are applied from outside
(torchtitan's rule), so this file reads like the maths.

This file has the one forward path. For CPU training in eager fp32, `training.cpu_kernels.use_cpu_kernels` swaps
a few modules for subclasses with hand-written autograd (CPU has no fused kernels for them); parameter names
and the maths stay the same.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 512
    n_layer: int = 2
    n_head: int = 4
    n_kv_head: int = 2
    d_model: int = 128
    ffn_hidden: Optional[int] = None  # None: 8/3 * d_model rounded up to a multiple of 256 (resolved on creation)
    max_seq_len: int = 256
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head {self.n_head} is not a multiple of n_kv_head {self.n_kv_head}")
        if (self.d_model // self.n_head) % 2:
            raise ValueError("head dimension must be even for rotary embeddings")
        if not self.ffn_hidden:
            # Resolved once and stored, so a checkpoint's config keeps its shape even if this rule changes.
            # SwiGLU has three matrices; 8/3 keeps its parameters equal to a 4x GELU MLP (Llama's choice),
            # rounded up to a multiple of 256 because GEMMs of such widths run markedly faster.
            object.__setattr__(self, "ffn_hidden", 256 * math.ceil(8 * self.d_model / 3 / 256))

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def hidden(self) -> int:
        return self.ffn_hidden

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GPTConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown model keys: {', '.join(sorted(unknown))}")
        return cls(**data)


# Named sizes. Vocabulary and context come from the data and the run config; these fix the shape.
SIZES: dict[str, dict] = {
    "tiny": dict(n_layer=2, n_head=4, n_kv_head=2, d_model=128),  # ~0.5M + embeddings: CPU tests
    "small": dict(n_layer=6, n_head=6, n_kv_head=2, d_model=384),  # ~11M: CPU demos
    "gpt2-124m": dict(n_layer=12, n_head=12, n_kv_head=12, d_model=768),  # GPT-2 small's shape
    "350m": dict(n_layer=24, n_head=16, n_kv_head=8, d_model=1024),
    "1b": dict(n_layer=16, n_head=32, n_kv_head=8, d_model=2048, ffn_hidden=8192, rope_theta=500000.0),  # Llama-3.2-1B shape
}


def model_config(size: str | dict, vocab_size: int, max_seq_len: int) -> GPTConfig:
    """A named size (or a dict of explicit dimensions, optionally with `base: <size>`) for this vocabulary."""
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"unknown model size {size!r}; choose one of {', '.join(SIZES)} or give dimensions")
        dims = dict(SIZES[size])
    else:
        dims = dict(size)
        base = dims.pop("base", None)
        if base is not None:
            if base not in SIZES:
                raise ValueError(f"unknown model size {base!r}; choose one of {', '.join(SIZES)}")
            dims = {**SIZES[base], **dims}  # unresolved: a changed d_model gets its own ffn_hidden
    dims.update(vocab_size=vocab_size, max_seq_len=max_seq_len)
    return GPTConfig.from_dict(dims)


def padded_vocab(vocab_size: int, multiple: int = 128) -> int:
    """Embedding rows rounded up: matmuls on multiples of 64/128 run markedly faster on GPUs."""
    return multiple * math.ceil(vocab_size / multiple)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rope_tables(head_dim: int, max_seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def rope_complex(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """One complex multiply: a single pass over x (and one in backward), the fastest form in eager mode."""
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * torch.complex(cos, sin)).flatten(-2).type_as(x)


def rope_real(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The same rotation in real arithmetic, which torch.compile fuses into one kernel (it cannot fuse complex ops)."""
    x0, x1 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2).type_as(x)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs of each head by position-dependent angles (Llama's layout).

    x is (B, T, H, D); cos/sin broadcast to (B|1, T, 1, D/2).
    """
    if torch.compiler.is_compiling():
        return rope_real(x, cos, sin)
    return rope_complex(x, cos, sin)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int = 0):
        super().__init__()
        self.layer = layer  # its slot in a KV cache
        self.n_head, self.n_kv_head, self.head_dim = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        # One matmul for queries, keys and values: fewer, larger GEMMs.
        self.wqkv = nn.Linear(cfg.d_model, (cfg.n_head + 2 * cfg.n_kv_head) * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_head * cfg.head_dim, cfg.d_model, bias=False)

    def project(self, qkv: torch.Tensor, cos, sin) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v as (B, H, T, D), q and k rotated."""
        B, T, _ = qkv.shape
        qkv = qkv.view(B, T, self.n_head + 2 * self.n_kv_head, self.head_dim)
        qk, v = qkv.split([self.n_head + self.n_kv_head, self.n_kv_head], dim=2)
        q, k = apply_rope(qk, cos, sin).split([self.n_head, self.n_kv_head], dim=2)  # one rotation for q and k
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def forward(self, x, cos, sin, mask=None, cache=None) -> torch.Tensor:
        """`mask`: None (causal), a boolean (B, 1, T, T) mask for SDPA, or a flex-attention BlockMask."""
        B, T, _ = x.shape
        q, k, v = self.project(self.wqkv(x), cos, sin)
        start = 0
        if cache is not None:
            start = cache.pos
            k, v = cache.update(self.layer, k, v)  # every position so far, this step's included
        # Grouped-query attention: the kernels share each K/V head across its query heads (flash, memory-efficient,
        # cuDNN, the CPU kernel, flex); no copies of K and V. (Backends without it are skipped by SDPA's choice.)
        gqa = self.n_kv_head != self.n_head
        if isinstance(mask, BlockMask):
            y = flex_attention(q, k, v, block_mask=mask, enable_gqa=gqa)
        else:
            if mask is None and start > 0 and T > 1:
                # A chunk after cached positions: query i sees the cache and the chunk up to itself.
                mask = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(diagonal=start)
            if mask is not None:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
            else:  # causal from position 0, or one new token that sees the whole cache
                y = F.scaled_dot_product_attention(q, k, v, is_causal=start == 0 and T > 1, enable_gqa=gqa)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class SwiGLU(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.w_gate_up = nn.Linear(cfg.d_model, 2 * cfg.hidden, bias=False)
        self.w_down = nn.Linear(cfg.hidden, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w_gate_up(x).chunk(2, dim=-1)
        return self.w_down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int = 0):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg, layer)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask, cache)
        return x + self.mlp(self.mlp_norm(x))


def packed_attention_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """Block-diagonal causal mask (B, 1, T, T), True where attention is allowed: same document, not the future."""
    T = doc_ids.shape[-1]
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]
    return (same_doc & causal)[:, None]


def packed_block_mask(doc_ids: torch.Tensor) -> BlockMask:
    """The same mask as flex attention's block mask: blocks that are all masked are skipped, and no (T, T) tensor is
    ever built. Only worth it compiled (eager flex attention materializes the scores): `GPT.flex_attention`."""
    B, T = doc_ids.shape

    def allowed(b, h, q, kv):
        return (q >= kv) & (doc_ids[b, q] == doc_ids[b, kv])

    return create_block_mask(allowed, B, None, T, T, device=doc_ids.device)


def positions_from_doc_ids(doc_ids: torch.Tensor) -> torch.Tensor:
    """Positions restarting at 0 at every document start, so a packed document sees the positions it would alone."""
    T = doc_ids.shape[-1]
    idx = torch.arange(T, device=doc_ids.device).expand_as(doc_ids)
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    start_idx = torch.where(starts, idx, torch.zeros_like(idx)).cummax(dim=-1).values
    return idx - start_idx


class GPT(nn.Module):
    # Set from outside by the training loop (they change speed and memory, never the maths):
    flex_attention = False  # packed sequences through flex attention's block mask (compiled GPU runs)
    checkpoint_blocks = False  # activation checkpointing: keep each block's input, recompute the rest in backward

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        cos, sin = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        # Not persistent: they are a function of the config, so checkpoints hold only learned weights.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            elif name.endswith(("wo.weight", "w_down.weight")):
                # GPT-2's scaled init: residual branches shrink with depth so the stream's variance stays ~1.
                nn.init.normal_(p, mean=0.0, std=std / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, mean=0.0, std=std)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward): 6N for the matmuls plus attention scores (PaLM, appendix B).

        The tied output projection is a matmul too, so N includes the embedding matrix once.
        """
        cfg = self.cfg
        n = self.num_params()
        attn = 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * seq_len
        return 6 * n + attn

    @property
    def head_weight(self) -> torch.Tensor:
        """The output projection: tied, it is the embedding matrix."""
        return self.embed.weight

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.head_weight)

    def forward(
        self,
        idx: torch.Tensor,
        positions: Optional[torch.Tensor] = None,
        doc_ids: Optional[torch.Tensor] = None,
        cache=None,
        return_hidden: bool = False,
    ) -> torch.Tensor:
        """Logits (B, T, V); with `return_hidden`, the final normed hidden states (B, T, D) for a fused loss.

        The model never computes a loss: objectives do (training.objectives).
        `positions` (B|1, T): rotary positions, default 0..T-1 (after the cache's, with a cache), or restarting
        at each document when `doc_ids` is given. `doc_ids` (B, T) marks packed sequences: tokens attend only
        within their own document. `cache`: a KV cache (training.generate.KVCache) that this call appends to.
        """
        B, T = idx.shape
        start = cache.pos if cache is not None else 0
        if start + T > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {start + T} tokens exceeds max_seq_len {self.cfg.max_seq_len}")
        mask = None
        if doc_ids is not None:
            mask = packed_block_mask(doc_ids) if self.flex_attention else packed_attention_mask(doc_ids)
            if positions is None:
                positions = positions_from_doc_ids(doc_ids)
        if positions is None:
            positions = torch.arange(start, start + T, device=idx.device)[None]
        cos, sin = self.rope_cos[positions][:, :, None], self.rope_sin[positions][:, :, None]  # (B|1, T, 1, D/2)
        x = self.embed(idx)
        recompute = self.checkpoint_blocks and torch.is_grad_enabled() and cache is None
        for block in self.blocks:
            if recompute:
                x = checkpoint(block, x, cos, sin, mask, use_reentrant=False)
            else:
                x = block(x, cos, sin, mask, cache)
        if cache is not None:
            cache.advance(T)
        x = self.norm(x)
        return x if return_hidden else self.head(x)


def unwrap(model: nn.Module) -> GPT:
    """The bare GPT under DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while not isinstance(model, GPT):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            raise TypeError(f"{type(model).__name__} wraps no GPT")
        model = inner
    return model
