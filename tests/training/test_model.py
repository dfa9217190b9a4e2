import pytest
import torch

from training.model import GPT, SIZES, GPTConfig, model_config, padded_vocab, positions_from_doc_ids
from training.objectives.base import Batch, token_losses


def mean_loss(model, idx, targets, doc_ids=None):
    """The language-modelling loss as the objectives compute it: the sum over valid targets / their count."""
    batch = Batch(idx, targets, doc_ids=doc_ids)
    return token_losses(model, batch).sum() / (targets != -100).sum()


def small_model(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=128, n_layer=2, n_head=4, n_kv_head=2, d_model=64, max_seq_len=32, **kw))


def test_forward_shapes_and_loss_near_uniform_at_init():
    model = small_model()
    idx = torch.randint(0, 128, (3, 16))
    assert model(idx).shape == (3, 16, 128)
    loss = mean_loss(model, idx, torch.randint(0, 128, (3, 16)))
    assert abs(loss.item() - torch.log(torch.tensor(128.0)).item()) < 0.3


def test_causal_future_tokens_do_not_change_past_logits():
    model = small_model()
    idx = torch.randint(0, 128, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 128
    a, b = model(idx), model(changed)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-5)
    assert not torch.allclose(a[0, 10:], b[0, 10:], atol=1e-5)


def test_packed_documents_do_not_attend_across_boundaries():
    """Two documents packed in one row give the same logits as each run alone (mask + restarted positions)."""
    model = small_model()
    first, second = torch.randint(0, 128, (1, 7)), torch.randint(0, 128, (1, 9))
    packed = torch.cat([first, second], dim=1)
    doc_ids = torch.tensor([[0] * 7 + [1] * 9])
    out = model(packed, doc_ids=doc_ids)
    assert torch.allclose(out[:, :7], model(first), atol=1e-5)
    assert torch.allclose(out[:, 7:], model(second), atol=1e-5)
    # Without the mask the second document sees the first.
    assert not torch.allclose(model(packed)[:, 7:], model(second), atol=1e-4)


def test_positions_restart_per_document():
    doc_ids = torch.tensor([[0, 0, 0, 1, 1, 2]])
    assert positions_from_doc_ids(doc_ids).tolist() == [[0, 1, 2, 0, 1, 0]]


def test_embeddings_are_tied_and_saved_once():
    model = small_model()
    assert "embed.weight" in model.state_dict()
    assert not any("lm_head" in k for k in model.state_dict())
    mean_loss(model, torch.randint(0, 128, (2, 8)), torch.randint(0, 128, (2, 8))).backward()
    assert model.embed.weight.grad is not None


def test_grouped_query_attention_has_fewer_kv_parameters():
    gqa = small_model()
    mha = GPT(GPTConfig(vocab_size=128, n_layer=2, n_head=4, n_kv_head=4, d_model=64, max_seq_len=32))
    assert gqa.blocks[0].attn.wqkv.weight.shape[0] == (4 + 2 * 2) * 16
    assert gqa.num_params() < mha.num_params()


def test_flops_per_token_is_6n_plus_attention():
    model = small_model()
    n = model.num_params()
    assert model.flops_per_token(32) == 6 * n + 12 * 2 * 4 * 16 * 32


@pytest.mark.parametrize("size,low,high", [("tiny", 0.2e6, 1e6), ("gpt2-124m", 80e6, 90e6), ("1b", 0.9e9, 1.1e9)])
def test_named_sizes_span_tiny_to_1b(size, low, high):
    with torch.device("meta"):  # count parameters without allocating a billion of them
        model = GPT(model_config(size, vocab_size=padded_vocab(32000), max_seq_len=1024))
    assert low <= model.num_params(non_embedding=True) <= high


def test_explicit_dimensions_and_bad_shapes():
    cfg = model_config({"base": "tiny", "n_layer": 3}, vocab_size=256, max_seq_len=64)
    assert cfg.n_layer == 3 and cfg.d_model == SIZES["tiny"]["d_model"]
    with pytest.raises(ValueError, match="n_kv_head"):
        GPTConfig(n_head=4, n_kv_head=3, d_model=64)
    with pytest.raises(ValueError, match="unknown model size"):
        model_config("huge", 256, 64)


def test_padded_vocab():
    assert padded_vocab(512) == 512 and padded_vocab(513) == 640 and padded_vocab(50257, 64) == 50304


def test_rope_forms_agree_and_rotation_keeps_norms():
    from training.model import rope_complex, rope_real, rope_tables

    cos, sin = rope_tables(16, 32, 10000.0)
    cos, sin = cos[None, :, None], sin[None, :, None]
    x = torch.randn(2, 32, 3, 16)
    a, b = rope_complex(x, cos, sin), rope_real(x, cos, sin)
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(a.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.equal(a[:, 0], x[:, 0])  # position 0 is not rotated


def test_relative_positions_only():
    """RoPE makes q.k depend on the distance between positions, not on where they are."""
    from training.model import rope_complex, rope_tables

    cos, sin = rope_tables(8, 64, 10000.0)
    q, k = torch.randn(8), torch.randn(8)

    def score(i, j):
        qi = rope_complex(q.view(1, 1, 1, 8), cos[i].view(1, 1, 1, 4), sin[i].view(1, 1, 1, 4))
        kj = rope_complex(k.view(1, 1, 1, 8), cos[j].view(1, 1, 1, 4), sin[j].view(1, 1, 1, 4))
        return (qi * kj).sum()

    assert torch.allclose(score(10, 3), score(50, 43), atol=1e-4)


def test_base_size_with_a_new_width_gets_its_own_ffn():
    cfg = model_config({"base": "tiny", "d_model": 256}, vocab_size=256, max_seq_len=64)
    assert cfg.ffn_hidden == 768 and model_config("tiny", 256, 64).ffn_hidden == 512


@pytest.mark.parametrize("n_kv_head", [4, 2])
@pytest.mark.parametrize("packed", [False, True])
def test_cpu_kernels_match_the_plain_model(n_kv_head, packed):
    """The module swap (hand-written CPU autograd for RMSNorm, SwiGLU, RoPE + q/k/v split, and the fused
    cross-entropy) gives the plain model's loss and gradients, and keeps every parameter name."""
    from training.cpu_kernels import use_cpu_kernels

    torch.manual_seed(0)
    slow = GPT(GPTConfig(vocab_size=128, n_layer=2, n_head=4, n_kv_head=n_kv_head, d_model=64, max_seq_len=32))
    with torch.no_grad():
        for p in slow.parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)  # norm gains away from 1, so their gradients are exercised
    fast = GPT(slow.cfg)
    fast.load_state_dict(slow.state_dict())
    names = list(fast.state_dict())
    use_cpu_kernels(fast)
    assert list(fast.state_dict()) == names
    assert type(fast.blocks[0].attn).__name__ == "CpuAttention"
    idx, targets = torch.randint(0, 128, (3, 32)), torch.randint(0, 128, (3, 32))
    targets[0, :7] = targets[2, 20:] = -100  # ignored positions: no loss, no gradient
    doc_ids = torch.tensor([[0] * 10 + [1] * 22, [0] * 32, [0] * 5 + [1] * 5 + [2] * 22]) if packed else None

    fast_loss = mean_loss(fast, idx, targets, doc_ids)
    fast_loss.backward()
    slow_loss = mean_loss(slow, idx, targets, doc_ids)
    slow_loss.backward()

    assert torch.allclose(fast_loss, slow_loss, atol=1e-6)
    for (name, a), b in zip(fast.named_parameters(), slow.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name


def test_state_dict_names_are_frozen():
    """The export reads these names: they may never change."""
    model = GPT(GPTConfig(vocab_size=64, n_layer=2, n_head=2, n_kv_head=1, d_model=32, max_seq_len=16))
    per_block = ["attn_norm.weight", "attn.wqkv.weight", "attn.wo.weight", "mlp_norm.weight", "mlp.w_gate_up.weight",
                 "mlp.w_down.weight"]
    expected = ["embed.weight"] + [f"blocks.{i}.{n}" for i in range(2) for n in per_block] + ["norm.weight"]
    assert list(model.state_dict()) == expected
