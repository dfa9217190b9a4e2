"""Conversations for SFT on real dialogue tokens: truncation at turn boundaries, the packing plan, masks that survive
both, resumable loaders, and the layouts each command refuses."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from dataprep.errors import UserError
from training.config import TrainConfig
from training.cpu_kernels import IGNORE_INDEX
from training.objectives import make_objective
from training.packing import ConversationCollator, best_fit, conversations, epoch_plan, turn_ends
from training.rows import open_token_rows

END = 7  # <|end|>: fixed special ids (dataprep.tokenizer.specials)


def open_sft(sft_ds, seq_len=128, packing=True, batch_size=4):
    cfg = TrainConfig(objective="sft", data=sft_ds, seq_len=seq_len, batch_size=batch_size, val_fraction=0.1,
                      packing=packing, seed=5)
    return make_objective(cfg).open_data(cfg, None)


def test_long_conversations_keep_whole_assistant_turns_or_are_dropped_and_counted(sft_ds):
    rows = open_token_rows(sft_ds, ["dialogues"], "sft")
    seq_len = 128
    conv = conversations(rows, seq_len)
    lengths = rows.lengths("tokens")
    long = np.flatnonzero(lengths - 1 > seq_len)
    assert conv.truncated > 0 and sum(conv.dropped.values()) > 0  # this data has both cases at 128
    assert conv.truncated + sum(conv.dropped.values()) == len(long)  # every conversation here has assistant turns
    kept = dict(zip(conv.rows.tolist(), conv.keep.tolist()))
    for i in long.tolist():
        tokens, mask = rows.row("tokens", i), rows.row("loss_mask", i)
        ends = turn_ends(mask)
        fitting = ends[ends <= seq_len]
        if i in kept:  # truncated: the head up to the last assistant <|end|> that fits
            keep = kept[i]
            assert keep - 1 <= seq_len and tokens[keep - 1] == END and mask[keep - 1] == 1
            assert keep - 1 == fitting[-1]
        else:  # dropped: not even the first assistant turn fits
            assert len(fitting) == 0
    short = [r for r in conv.rows.tolist() if lengths[r] - 1 <= seq_len]
    assert all(kept[r] == lengths[r] for r in short)  # short conversations are never cut
    assert conv.dropped == Counter({"no complete assistant turn within seq_len": len(long) - conv.truncated})


def test_packing_plan_is_seeded_complete_and_never_crops(sft_ds):
    data = open_sft(sft_ds, seq_len=256)
    lengths = data.train.positions
    plans = [epoch_plan(lengths, 256, seed=5, epoch=e, packing=True) for e in (0, 0, 1)]
    assert np.array_equal(plans[0].items, plans[1].items) and np.array_equal(plans[0].offsets, plans[1].offsets)
    assert not np.array_equal(plans[0].items, plans[2].items)  # a new order every epoch
    for plan in plans:
        assert sorted(plan.items.tolist()) == list(range(len(lengths)))  # each conversation once per epoch
        assert max(lengths[plan.row(r)].sum() for r in range(len(plan))) <= 256
    unpacked = epoch_plan(lengths, 256, seed=5, epoch=0, packing=False)
    assert len(plans[0]) < len(unpacked) == len(lengths)
    # Best fit: the rows cannot be improved by moving one item to an open row with less room that fits it.
    rows = best_fit(np.array([50, 70, 120, 30, 200, 10, 60]), 256)
    assert sorted(sum(rows, [])) == list(range(7)) and len(rows) == 3


def test_masks_survive_packing_and_truncation(sft_ds):
    """Every packed segment's targets are exactly its conversation's learned tokens, truncated ones included; a
    plan whose counts disagree with the tensors stops the batch."""
    data = open_sft(sft_ds, seq_len=128)
    loader = data.loader(0, 1)
    seen = 0
    truncated_seen = 0
    lengths = data.rows.lengths("tokens")
    while loader.epoch == 0:
        items = [loader.plan(0).row(r) for r in loader.next_ids()]
        batch = loader.next_batch()
        for b, row_items in enumerate(items):
            for k, c in enumerate(row_items):
                row, keep = int(data.train.rows[c]), int(data.train.keep[c])
                tokens = data.rows.row("tokens", row)[:keep].astype(np.int64)
                mask = data.rows.row("loss_mask", row)[:keep]
                seg = (batch.doc_ids[b] == k).numpy()
                assert batch.inputs[b, seg].tolist() == tokens[:-1].tolist()
                assert batch.targets[b, seg].tolist() == np.where(mask[1:] == 1, tokens[1:], IGNORE_INDEX).tolist()
                assert batch.positions[b, seg].tolist() == list(range(keep - 1))
                truncated_seen += keep < lengths[row]
                seen += 1
            assert (batch.targets[b, batch.doc_ids[b] == -1] == IGNORE_INDEX).all()  # padding learns nothing
    assert seen == sum(len(loader.plan(0).row(r)) for r in range(loader.batches_in(0) * 4))
    assert truncated_seen > 0
    broken = data.train.subset(slice(None))
    broken.trained = broken.trained + 1
    with pytest.raises(RuntimeError, match="loss mask lost"):
        ConversationCollator(data.rows, broken, True, data.pad_id)([np.array([0])])


def test_unpacked_rows_are_one_conversation_with_plain_causal_attention(sft_ds):
    data = open_sft(sft_ds, seq_len=256, packing=False)
    batch = data.loader(0, 1).next_batch()
    assert batch.doc_ids is None and batch.positions is None
    learned = (batch.targets != IGNORE_INDEX).sum(dim=1)
    assert (learned > 0).all()
    assert batch.num_tokens < batch.inputs.numel()  # padded to the longest row


def test_loader_resumes_at_the_exact_next_batch_across_epochs(sft_ds):
    full = open_sft(sft_ds, seq_len=256, batch_size=2).loader(rank=1, world=2)
    n = full.batches_in(0) + 3
    reference = [full.next_batch() for _ in range(n)]
    first = open_sft(sft_ds, seq_len=256, batch_size=2).loader(rank=1, world=2)
    for _ in range(n // 2):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))  # it travels as JSON in checkpoints
    resumed = open_sft(sft_ds, seq_len=256, batch_size=2).loader(rank=1, world=2)
    resumed.load_state_dict(state)
    for expected in reference[n // 2 :]:
        got = resumed.next_batch()
        assert got.inputs.equal(expected.inputs) and got.targets.equal(expected.targets)
    assert resumed.epoch == 1
    with pytest.raises(UserError, match="packing"):
        open_sft(sft_ds, seq_len=256, batch_size=2, packing=False).loader(1, 2).load_state_dict(state)
    with pytest.raises(UserError, match="world_size"):
        open_sft(sft_ds, seq_len=256, batch_size=2).loader(0, 1).load_state_dict(state)


def test_each_command_refuses_the_other_layouts(sft_ds, dpo_ds, tokens_ds):
    for url, command, layouts in ((tokens_ds, "sft", ["dialogues"]), (dpo_ds, "sft", ["dialogues"]),
                                  (sft_ds, "dpo", ["preferences"])):
        with pytest.raises(UserError, match=f"`training {command}` trains on") as info:
            open_token_rows(url, layouts, command)
        assert "\n" not in str(info.value)


def test_fine_tuning_commands_refuse_bad_inputs_before_ray(tmp_path, corpus, sft_ds, dpo_ds, tokens_ds,
                                                           init_checkpoint):
    from typer.testing import CliRunner

    from training.cli import app

    from .token_data import tokenize, train_tokenizer

    other_tok = train_tokenizer([corpus["train_docs"]], tmp_path / "tok" / "m", 700)
    other = tokenize(corpus["dialogues"], other_tok, tmp_path / "other_sft")
    init, run = str(init_checkpoint), str(tmp_path / "run")
    cases = [  # (arguments, message, exit code: 1 the data or a folder is wrong, 2 the call itself is)
        (["sft", "--data", tokens_ds, "--init", init], "holds documents tokens; `training sft` trains on dialogues", 1),
        (["dpo", "--data", sft_ds, "--init", init], "`training dpo` trains on preferences", 1),
        (["sft", "--data", sft_ds], "needs --init CHECKPOINT", 2),
        (["sft", "--data", other, "--init", init], "was trained with tokenizer", 1),
        (["sft", "--data", sft_ds, "--init", init, "--set", "seq_len=512"], "exceeds the --init model's context of 256",
         2),
        (["sft", "--data", sft_ds, "--init", init, "--set", "model=small"], "takes its model from --init", 2),
        (["dpo", "--data", dpo_ds, "--init", str(tmp_path / "nowhere")], "does not exist", 1),
        (["sft", "--data", sft_ds, "--init", init, "--set", "objective=dpo"], "set by the command", 2),
    ]
    for args, message, code in cases:
        out = CliRunner().invoke(app, args + ["-o", run])
        assert out.exit_code == code and message in " ".join(out.output.split()), (args, out.output)
        assert "Traceback" not in out.output
    assert not (tmp_path / "run").exists()  # nothing written
