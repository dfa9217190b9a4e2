"""Our model as transformers' `LlamaForCausalLM`: config.json, generation_config.json and the weights under
Llama's names.

Every shape our GPTConfig can describe has an exact Llama equivalent (RoPE without scaling, RMSNorm, SwiGLU,
grouped-query attention, no biases, tied embeddings, head_dim = d_model / n_head), so nothing is refused here.

Two layouts differ and are converted, never approximated:
- RoPE: ours rotates adjacent pairs (x[2i], x[2i+1]) by frequency i (`training.model.apply_rope`); Llama in
  transformers rotates the two halves (x[i], x[i + D/2]) by frequency i (`rotate_half`). Permuting each query and
  key head's output rows, evens first then odds, turns one into the other; q·k is unchanged because q and k are
  permuted alike. V and the output projection are not rotated and keep their order.
- fused projections: `wqkv` is q, k, v stacked (n_head, n_kv_head, n_kv_head heads of head_dim rows) and
  `w_gate_up` is gate then up (`chunk(2)`), split into Llama's separate matrices.
"""

from __future__ import annotations

from typing import Any

import torch

from dataprep.errors import UserError
from dataprep.tokenizer import specials
from training.chat import ChatOptions
from training.model import GPT, GPTConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def half_split_rows(weight: torch.Tensor, n_heads: int, head_dim: int) -> torch.Tensor:
    """Rows of a q or k projection reordered per head from interleaved pairs to halves: (0, 2, 4, ..., 1, 3, ...)."""
    rows = weight.view(n_heads, head_dim // 2, 2, -1)
    return rows.transpose(1, 2).reshape(n_heads * head_dim, -1)


def expected_shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Our weight names and shapes for this config, from the model itself (built on the meta device: no memory)."""
    with torch.device("meta"):
        return {name: tuple(t.shape) for name, t in GPT(cfg).state_dict().items()}


def check_weights(weights: dict[str, torch.Tensor], cfg: GPTConfig, where: str) -> None:
    expected = expected_shapes(cfg)
    unknown = sorted(set(weights) - set(expected))
    missing = sorted(set(expected) - set(weights))
    if unknown or missing:
        what = f"unexpected weight {unknown[0]}" if unknown else f"missing weight {missing[0]}"
        raise UserError(f"{where}: {what}; it does not hold this model's weights")
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise UserError(f"{where}: {name} has shape {tuple(weights[name].shape)}, the config says {shape}")


def llama_weights(weights: dict[str, torch.Tensor], cfg: GPTConfig, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Our state dict under Llama's names, q/k rows in the half-split RoPE layout. Tied: no lm_head.weight."""
    hd, nq, nkv = cfg.head_dim, cfg.n_head, cfg.n_kv_head
    out = {"model.embed_tokens.weight": weights["embed.weight"], "model.norm.weight": weights["norm.weight"]}
    for n in range(cfg.n_layer):
        ours, theirs = f"blocks.{n}.", f"model.layers.{n}."
        q, k, v = weights[ours + "attn.wqkv.weight"].split([nq * hd, nkv * hd, nkv * hd], dim=0)
        gate, up = weights[ours + "mlp.w_gate_up.weight"].chunk(2, dim=0)
        out |= {
            theirs + "input_layernorm.weight": weights[ours + "attn_norm.weight"],
            theirs + "self_attn.q_proj.weight": half_split_rows(q, nq, hd),
            theirs + "self_attn.k_proj.weight": half_split_rows(k, nkv, hd),
            theirs + "self_attn.v_proj.weight": v,
            theirs + "self_attn.o_proj.weight": weights[ours + "attn.wo.weight"],
            theirs + "post_attention_layernorm.weight": weights[ours + "mlp_norm.weight"],
            theirs + "mlp.gate_proj.weight": gate,
            theirs + "mlp.up_proj.weight": up,
            theirs + "mlp.down_proj.weight": weights[ours + "mlp.w_down.weight"],
        }
    return {name: t.to(dtype).contiguous() for name, t in out.items()}


def llama_config(cfg: GPTConfig, ids: dict[str, int], dtype: str) -> dict[str, Any]:
    """config.json. `vocab_size` is the embedding's rows, padded to `vocab_multiple`: the rows past the tokenizer's
    pieces are never produced by the tokenizer. rope_theta and torch_dtype are also written under transformers 5's
    names (rope_parameters, dtype); each version reads its own."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.hidden,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_kv_head,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "initializer_range": cfg.init_std,
        "bos_token_id": ids[specials.BOS],
        "eos_token_id": ids[specials.EOS],
        "pad_token_id": ids[specials.PAD],
        "use_cache": True,
        "torch_dtype": dtype,
        "dtype": dtype,
    }


def generation_config(ids: dict[str, int]) -> dict[str, Any]:
    """generation_config.json: generation stops at <|end|> (end of an answer) and <|endoftext|>, or HF generate()
    and vLLM run on; sampling defaults and the answer length are `training chat`'s (max_new_tokens, not
    max_length: transformers' default max_length of 20 counts the prompt too)."""
    chat = ChatOptions()
    return {
        "bos_token_id": ids[specials.BOS],
        "eos_token_id": [ids[specials.END], ids[specials.EOS]],
        "pad_token_id": ids[specials.PAD],
        "do_sample": True,
        "temperature": chat.sampling.temperature,
        "top_k": chat.sampling.top_k,
        "top_p": chat.sampling.top_p,
        "max_new_tokens": chat.max_new_tokens,
    }
