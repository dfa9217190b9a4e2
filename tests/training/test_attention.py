"""Attention paths give the plain attention's outputs and gradients: SDPA sharing K/V heads (enable_gqa, no copies),
the packed-sequence mask through SDPA and through flex attention's block mask, and activation checkpointing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from training.model import GPT, GPTConfig, packed_attention_mask
from training.objectives.base import Batch, token_losses

DOC_IDS = torch.tensor([[0] * 10 + [1] * 22, [0] * 32, [0] * 5 + [1] * 5 + [2] * 22])


def plain_attention(q, k, v, allowed):
    """The textbook form: K/V copied to every query head, scores, -inf where not allowed, softmax."""
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def model(n_kv_head: int, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=128, n_layer=2, n_head=4, n_kv_head=n_kv_head, d_model=64, max_seq_len=32))


def loss_and_grads(m: GPT, idx, targets, doc_ids=None):
    m.zero_grad()
    loss = token_losses(m, Batch(idx, targets, doc_ids=doc_ids)).mean()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in m.named_parameters()}


def test_sdpa_shares_kv_heads_without_copies(monkeypatch):
    """K and V reach SDPA with n_kv_head heads and enable_gqa (the old path expanded them with repeat_interleave)."""
    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, **kw):
        seen.append((q.shape[1], k.shape[1], v.shape[1], kw.get("enable_gqa")))
        return real(q, k, v, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    m = model(n_kv_head=2)
    idx = torch.randint(0, 128, (3, 32))
    m(idx)
    m(idx, doc_ids=DOC_IDS)
    assert seen and all(s == (4, 2, 2, True) for s in seen)


@pytest.mark.parametrize("n_kv_head", [1, 2, 4])
def test_sdpa_paths_equal_plain_attention(n_kv_head):
    """Causal and packed-mask SDPA with shared K/V heads equal the textbook attention on the same q, k, v."""
    torch.manual_seed(1)
    B, T, D = 3, 32, 16
    q = torch.randn(B, 4, T, D, dtype=torch.float64)
    k, v = torch.randn(B, n_kv_head, T, D, dtype=torch.float64), torch.randn(B, n_kv_head, T, D, dtype=torch.float64)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    gqa = n_kv_head != 4
    got = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    assert torch.allclose(got, plain_attention(q, k, v, causal), atol=1e-10)
    mask = packed_attention_mask(DOC_IDS)
    got = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
    assert torch.allclose(got, plain_attention(q, k, v, mask), atol=1e-10)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")  # eager, on purpose: equality
def test_flex_block_mask_equals_the_sdpa_mask():
    """The packed-sequence block mask through flex attention gives the SDPA mask path's logits. Forward only:
    torch runs flex attention's backward on CUDA alone (benchmarks/gpu_check.sh trains through it)."""
    idx = torch.randint(0, 128, (3, 32))
    m = model(n_kv_head=2)
    with torch.no_grad():
        expected = m(idx, doc_ids=DOC_IDS)
        m.flex_attention = True
        got = m(idx, doc_ids=DOC_IDS)
        # and the per-document logits: each packed document alone, positions from 0
        alone = m(idx[:1, 10:], positions=torch.arange(22)[None])
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got[:1, 10:], alone, atol=1e-5)


@pytest.mark.parametrize("packed", [False, True])
def test_activation_checkpointing_changes_nothing_but_memory(packed):
    idx, targets = torch.randint(0, 128, (3, 32)), torch.randint(0, 128, (3, 32))
    doc_ids = DOC_IDS if packed else None
    plain, recomputed = model(2), model(2)
    recomputed.checkpoint_blocks = True
    a_loss, a_grads = loss_and_grads(plain, idx, targets, doc_ids)
    b_loss, b_grads = loss_and_grads(recomputed, idx, targets, doc_ids)
    assert torch.equal(a_loss, b_loss)
    assert all(torch.equal(a_grads[n], b_grads[n]) for n in a_grads)
