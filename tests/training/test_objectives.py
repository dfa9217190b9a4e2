"""The objective seam: packed conversations isolated, the SFT mask, global-count normalization over micro-batches
and ranks, DPO on real preference pairs, KV-cache generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from dataprep.dataset import open_dataset
from dataprep.errors import UserError
from dataprep.tokenizer.model import load_tokenizer
from dataprep.tokenizer.template import ChatIds, render
from training.batch import Batch
from training.checkpoint import load_model
from training.config import TrainConfig
from training.cpu_kernels import IGNORE_INDEX, use_cpu_kernels
from training.engine import accumulate_gradients, evaluate
from training.generate import KVCache, Sampling, generate, generate_without_cache
from training.model import GPT, GPTConfig
from training.objectives import RunContext, make_objective
from training.objectives.base import hidden_losses
from training.objectives.dpo import PairCollator, reference_table
from training.packing import ConversationCollator

from .conftest import save_init_checkpoint, tiny_gpt
from .ddp_worker import ddp_step


def sft_data(sft_ds, seq_len=256, packing=True):
    cfg = TrainConfig(objective="sft", data=sft_ds, seq_len=seq_len, batch_size=4, val_fraction=0.1, packing=packing)
    return make_objective(cfg), make_objective(cfg).open_data(cfg, None)


def short_conversations(data, n: int, limit: int) -> np.ndarray:
    """`n` conversations whose positions add up to at most `limit`."""
    order = np.argsort(data.train.positions, kind="stable")
    picked = order[:n]
    assert data.train.positions[picked].sum() <= limit
    return picked


@pytest.mark.parametrize("kernels", [False, True])
def test_packed_conversations_never_see_each_other(sft_ds, kernels):
    """Changing one packed conversation's tokens leaves the others' logits bit-identical (fp32, CPU)."""
    _, data = sft_data(sft_ds)
    picked = short_conversations(data, 3, 256)
    collate = ConversationCollator(data.rows, data.train, packing=True, pad_id=data.pad_id)
    batch = collate([picked])
    assert batch.doc_ids[0].unique().tolist() == [-1, 0, 1, 2] or batch.doc_ids[0].unique().tolist() == [0, 1, 2]
    model = tiny_gpt()
    if kernels:
        use_cpu_kernels(model)
    with torch.no_grad():
        logits = model(batch.inputs, positions=batch.positions, doc_ids=batch.doc_ids)
        changed = batch.inputs.clone()
        middle = batch.doc_ids == 1
        changed[middle] = (changed[middle] * 7 + 11) % 1000
        other = model(changed, positions=batch.positions, doc_ids=batch.doc_ids)
        others = (batch.doc_ids == 0) | (batch.doc_ids == 2)
        assert torch.equal(logits[others], other[others])  # exactly
        assert not torch.allclose(logits[middle], other[middle])
        # Each packed conversation sees what it would alone, positions from 0.
        last = batch.doc_ids[0] == 2
        alone = model(batch.inputs[:, last])
        assert torch.allclose(logits[:, last], alone, atol=1e-5)
        # Without the block-diagonal mask the last conversation would see the others.
        assert not torch.allclose(model(batch.inputs)[:, last], alone, atol=1e-3)


def test_sft_loss_counts_only_assistant_content_and_end(sft_ds, corpus):
    """Targets are exactly the assistant turns' content and their <|end|>, checked against the template's reference
    renderer; every other position gets zero gradient."""
    tok = load_tokenizer(corpus["tokenizer"])
    ids = ChatIds.of(tok)
    dialogues = open_dataset(corpus["dialogues"]).to_table()["messages"].to_pylist()
    _, data = sft_data(sft_ds)
    picked = short_conversations(data, 3, 256)
    batch = ConversationCollator(data.rows, data.train, packing=True, pad_id=data.pad_id)([picked])
    for k, c in enumerate(picked):
        row = int(data.train.rows[c])
        tokens, mask = render(dialogues[row], tok.sp.encode, ids)  # the readable reference, not the shards
        seg = batch.doc_ids[0] == k
        assert batch.inputs[0, seg].tolist() == tokens[:-1]
        expected = [t if m else IGNORE_INDEX for t, m in zip(tokens[1:], mask[1:])]
        assert batch.targets[0, seg].tolist() == expected
        learned = [t for t in expected if t != IGNORE_INDEX]
        assert ids.end in learned and not set(learned) & {ids.eos, *ids.role}
    model = tiny_gpt()
    use_cpu_kernels(model)
    hidden = model(batch.inputs, positions=batch.positions, doc_ids=batch.doc_ids, return_hidden=True)
    hidden.retain_grad()
    hidden_losses(hidden, model.head_weight, batch.targets).sum().backward()
    ignored = batch.targets == IGNORE_INDEX
    assert torch.count_nonzero(hidden.grad[ignored]) == 0
    assert (hidden.grad[~ignored].abs().sum(-1) > 0).all()


def _handmade_batches():
    """8 rows whose masks differ in density: micro-batches and ranks hold different numbers of valid targets."""
    g = torch.Generator().manual_seed(3)
    inputs = torch.randint(0, 128, (8, 24), generator=g)
    targets = torch.randint(0, 128, (8, 24), generator=g)
    density = torch.tensor([0.05, 0.2, 0.9, 1.0, 0.1, 0.5, 0.3, 0.95])[:, None]
    targets[torch.rand(8, 24, generator=g) > density] = IGNORE_INDEX
    return Batch(inputs, targets), Batch(inputs[:4], targets[:4]), Batch(inputs[4:], targets[4:])


def _small_model() -> GPT:
    torch.manual_seed(0)
    return use_cpu_kernels(GPT(GPTConfig(vocab_size=128, n_layer=2, n_head=4, n_kv_head=2, d_model=64, max_seq_len=32)))


def test_grad_accumulation_and_ranks_weight_every_target_equally(tmp_path):
    """1 micro-batch of 8 = 2 micro-batches of 4 = 2 DDP ranks (gloo, in-process) x 4: the loss is divided by the
    valid targets counted over every micro-batch and rank."""
    full, first, second = _handmade_batches()
    assert (first.targets != IGNORE_INDEX).sum() != (second.targets != IGNORE_INDEX).sum()
    objective = make_objective(TrainConfig())

    def grads(batches) -> dict:
        model = _small_model()
        accumulate_gradients(model, objective, batches)
        return {n: p.grad for n, p in model.named_parameters()}

    one, accumulated = grads([full]), grads([first, second])
    # A fork server imports torch once for both ranks (spawn would import it twice; fork is unsafe after OpenMP).
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "tests.training.ddp_worker", "training.engine", "training.objectives"])
    state = {"config": _small_model().cfg.to_dict(), "weights": _small_model().state_dict()}
    procs = [ctx.Process(target=ddp_step, args=(r, 2, str(tmp_path / "init"), state, [[first], [second]], str(tmp_path)))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    ranks = [torch.load(tmp_path / f"grads-{r}.pt", weights_only=True) for r in range(2)]
    for name, g in one.items():
        torch.testing.assert_close(accumulated[name], g, rtol=1e-5, atol=1e-7)
        for r in range(2):
            torch.testing.assert_close(ranks[r][name], g, rtol=1e-5, atol=1e-7)

    # The naive mean of per-micro-batch means would weight the sparse batch's targets more: not what we do.
    naive = _small_model()
    for b in (first, second):
        out = objective(naive, b)
        (out.loss_sum / out.count / 2).backward()
    assert not torch.allclose(naive.embed.weight.grad, one["embed.weight"], rtol=1e-3, atol=1e-6)


def test_dpo_on_real_preference_pairs_starts_at_ln2_and_learns(dpo_ds, sp_model, tmp_path):
    """hh-rlhf pairs, a tiny policy starting as its reference: loss ln 2 and zero rewards at step 0; after 20 steps
    on a fixed batch of 16 pairs, lower loss, positive margin, reward accuracy >= 0.75."""
    init_checkpoint = save_init_checkpoint(tmp_path / "init", tiny_gpt(d_model=64, n_layer=1, n_head=2, n_kv_head=1,
                                                                       max_seq_len=128), dpo_ds, sp_model)
    cfg = TrainConfig(objective="dpo", data=dpo_ds, seq_len=128, batch_size=16, val_fraction=0.1, beta=0.1)
    objective = make_objective(cfg)
    data = objective.open_data(cfg, None)
    assert data.summary["train_pairs"] >= 16
    batch = PairCollator(data.rows, data.train, data.pad_id)([np.arange(16)])
    model, _, _ = load_model(init_checkpoint)
    use_cpu_kernels(model)
    objective.prepare(model, data, RunContext(torch.device("cpu"), init_dir=str(init_checkpoint)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    first = None
    for step in range(20):
        sums = accumulate_gradients(model, objective, [batch]).reduced(1)
        if first is None:
            first = sums
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert first["rewards_chosen"] == pytest.approx(0, abs=1e-5) and first["rewards_rejected"] == pytest.approx(0, abs=1e-5)
    assert objective.health(first)["ok"]
    after = evaluate(model, objective, [batch], torch.device("cpu"))
    assert after["loss"] < math.log(2) - 0.05
    assert after["reward_accuracy"] >= 0.75 and after["reward_margin"] > 0
    assert after["count"] == 16

    # Precomputed reference log-probs: the same values, stored with the data's hash, refused for other data.
    ctx = RunContext(torch.device("cpu"), run_dir=str(tmp_path), init_dir=str(init_checkpoint))
    table = reference_table(data, lambda: objective.reference, ctx, 16)
    with torch.no_grad():
        direct = objective.reference_logps(batch)
    torch.testing.assert_close(torch.cat([table[:16, 0], table[:16, 1]]), direct, rtol=1e-5, atol=1e-3)
    other_cfg = TrainConfig(objective="dpo", data=dpo_ds, seq_len=100, batch_size=16, val_fraction=0.1)
    other = make_objective(other_cfg).open_data(other_cfg, None)
    with pytest.raises(UserError, match="ref_logps.*seq_len"):
        reference_table(other, lambda: objective.reference, ctx, 16)


@pytest.mark.parametrize("kernels", [False, True])
def test_kv_cache_generation_equals_full_forward_greedy(kernels):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=128, n_layer=2, n_head=4, n_kv_head=2, d_model=64, max_seq_len=96, init_std=0.2))
    if kernels:
        use_cpu_kernels(model)
    model.eval()
    greedy = Sampling(temperature=0)
    for length in (1, 2, 9, 40, 80):
        prompt = torch.randint(0, 128, (length,), generator=torch.Generator().manual_seed(length)).tolist()
        cached = list(generate(model, prompt, 24, greedy))
        assert cached == generate_without_cache(model, prompt, 24), length
        assert len(cached) == min(24, 96 - length)
    # A prefill in two chunks (RoPE offset by the cache position, the causal mask offset too) equals one pass.
    prompt = torch.randint(0, 128, (1, 30))
    cache = KVCache.for_model(model)
    with torch.no_grad():
        model(prompt[:, :17], cache=cache)
        chunked = model(prompt[:, 17:], cache=cache)
        torch.testing.assert_close(chunked, model(prompt)[:, 17:], rtol=1e-4, atol=1e-5)


def test_sampling_is_seeded_and_filters_apply():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=128, n_layer=1, n_head=2, n_kv_head=1, d_model=32, max_seq_len=64)).eval()
    prompt = [5, 6, 7]
    warm = Sampling(temperature=1.0, top_k=0, top_p=1.0, seed=1)
    a, b = list(generate(model, prompt, 20, warm)), list(generate(model, prompt, 20, warm))
    assert a == b and a != list(generate(model, prompt, 20, Sampling(temperature=1.0, top_k=0, top_p=1.0, seed=2)))
    greedy = list(generate(model, prompt, 20, Sampling(temperature=0)))
    assert list(generate(model, prompt, 20, Sampling(temperature=1.0, top_k=1, seed=3))) == greedy
    assert list(generate(model, prompt, 20, Sampling(temperature=1.0, top_k=0, top_p=1e-6, seed=3))) == greedy
    stop = greedy[3]
    assert list(generate(model, prompt, 20, Sampling(temperature=0), stop=(stop,))) == greedy[: greedy.index(stop)]
