"""`training export`: the folder transformers loads gives our logits, our greedy answers and our token ids.

Models: tiny, trained a few steps here on the session's Shakespeare tokens (so attention and positions matter),
with grouped-query attention and without; their embeddings have more rows than the tokenizer has pieces, as
`vocab_multiple` padding gives. Everything runs offline (HF_HUB_OFFLINE).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import replace

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from dataprep.dataset import open_dataset
from dataprep.errors import UserError
from dataprep.tokenizer.model import from_bytes
from dataprep.tokenizer.template import ChatIds, generation_prompt, render
from training.checkpoint import TOKENIZER, load_model
from training.cli import app
from training.export import export_checkpoint
from training.export.folder import MARKER
from training.export.hf_tokenizer import check_exportable, parse_model
from training.generate import Sampling, generate
from training.model import padded_vocab

from .conftest import VOCAB, save_init_checkpoint, tiny_gpt

ENGLISH = "First Citizen: Before we proceed any further, hear me speak."
CHINESE = "你好，世界！今天天气很好，我们去公园散步吧。"
TEXTS = [
    ENGLISH,
    CHINESE,
    "Pi is 3.14159, and 2024-06-01 had 86400 seconds; 1234567890.",
    "Thumbs up 👍🏽, grin 😀, family 👨‍👩‍👧!",
    " a leading space, two  spaces, a trailing one ",
    "tabs\tand\nnew\n\nlines\r\n",
    "",
    "mixed 中文 and English 123 ✓",
]
TOL_FP32, TOL_BF16 = 1e-4, 1e-2


@torch.enable_grad()
def train_few_steps(model, tokens: np.ndarray, steps: int = 12, batch: int = 4, seq: int = 64, seed: int = 0):
    """Plain next-token training on random windows: enough for attention and positions to matter."""
    gen = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(tokens.astype(np.int64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=gen)
        rows = torch.stack([data[s : s + seq + 1] for s in starts])
        logits = model(rows[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), rows[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


class Models:
    """Tiny checkpoints (trained here, saved as training saves them) and their exports, made once per module."""

    def __init__(self, root, tokens: np.ndarray, tokens_ds: str, sp_model: bytes):
        self.root, self.tokens, self.tokens_ds, self.sp_model = root, tokens, tokens_ds, sp_model
        self.made: dict[str, tuple] = {}

    def __call__(self, kind: str = "gqa"):
        """(checkpoint folder, fp32 export folder, our model, our tokenizer). 1152 embedding rows for 1024 pieces."""
        if kind not in self.made:
            model = tiny_gpt(seed=1, max_seq_len=128, n_kv_head={"gqa": 2, "mha": 4}[kind])
            model = type(model)(replace(model.cfg, vocab_size=padded_vocab(VOCAB, 384)))
            train_few_steps(model, self.tokens)
            folder = save_init_checkpoint(self.root / kind / "step-00000030", model, self.tokens_ds, self.sp_model,
                                          step=30)
            result = export_checkpoint(folder, self.root / f"hf-{kind}")
            assert result.vocab_size == 1152 and result.tokenizer_pieces == VOCAB
            loaded, _, directory = load_model(folder)
            tok = from_bytes((directory / TOKENIZER).read_bytes(), str(directory / TOKENIZER))
            self.made[kind] = (folder, result.output, loaded.eval(), tok)
        return self.made[kind]


@pytest.fixture(scope="module")
def models(tmp_path_factory, tokens_ds, sp_model) -> Models:
    tables = open_dataset(tokens_ds).iter_tables(["tokens"])
    tokens = np.concatenate([t.column("tokens").combine_chunks().values.to_numpy() for t in tables])
    return Models(tmp_path_factory.mktemp("export"), tokens, tokens_ds, sp_model)


def hf_model(folder, dtype=torch.float32):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()


def hf_tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("kind", ["gqa", "mha"])
@torch.no_grad()
def test_logits_equal_ours(models, kind):
    _, exported, model, tok = models(kind)
    hf = hf_model(exported)
    assert hf.config.vocab_size == 1152 and hf.config.num_key_value_heads == model.cfg.n_kv_head
    assert hf.get_output_embeddings().weight.data_ptr() == hf.get_input_embeddings().weight.data_ptr()  # tied
    for text in (ENGLISH, CHINESE):
        ids = torch.tensor([tok.sp.encode(text)])
        assert ids.shape[1] > 15
        theirs, mine = hf(ids).logits, model(ids)
        assert theirs.shape == mine.shape == (1, ids.shape[1], 1152)
        assert (theirs - mine).abs().max().item() < TOL_FP32
    if model.cfg.n_kv_head < model.cfg.n_head:
        # The test can fail: the same weights left in our interleaved RoPE layout give other logits.
        for layer in hf.model.layers:
            for proj, heads in ((layer.self_attn.q_proj, model.cfg.n_head), (layer.self_attn.k_proj, model.cfg.n_kv_head)):
                w = proj.weight.data.view(heads, 2, model.cfg.head_dim // 2, -1)
                proj.weight.data = w.transpose(1, 2).reshape(proj.weight.shape).contiguous()
        ids = torch.tensor([tok.sp.encode(ENGLISH)])
        assert (hf(ids).logits - model(ids)).abs().max().item() > 100 * TOL_FP32


@torch.no_grad()
def test_bfloat16_export(models, tmp_path):
    """The bf16 export is our weights rounded once to bf16 and nothing else: upcast to fp32 it gives the logits of
    our model with those rounded weights within 1e-4. Run in bf16 arithmetic its next-token probabilities are
    within 1e-2 of our fp32 ones (measured: 1.5e-3 at most). Its raw logits cannot be held to 1e-2: a bf16 number
    between 4 and 8 is only known to 0.03 (measured: 0.08 at most, and our own model under bf16 autocast is as far)."""
    checkpoint, _, model, tok = models()
    out = tmp_path / "bf16"
    export_checkpoint(checkpoint, out, dtype="bfloat16")
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    native, upcast = hf_model(out, dtype="auto"), hf_model(out, dtype=torch.float32)
    assert native.dtype == torch.bfloat16
    rounded = copy.deepcopy(model)
    for p in rounded.parameters():
        p.copy_(p.to(torch.bfloat16).float())
    assert any((p != q).any() for p, q in zip(rounded.parameters(), model.parameters()))  # rounding changed them
    for text in (ENGLISH, CHINESE):
        ids = torch.tensor([tok.sp.encode(text)])
        assert (upcast(ids).logits - rounded(ids)).abs().max().item() < TOL_FP32
        theirs, mine = native(ids).logits.float().softmax(-1), model(ids).softmax(-1)
        assert (theirs - mine).abs().max().item() < TOL_BF16


@torch.no_grad()
def test_greedy_generation_equals_training_chat(models):
    checkpoint, exported, model, tok = models()
    hf, hf_tok = hf_model(exported), hf_tokenizer(exported)
    ids = ChatIds.of(tok)
    for question in ("What is the name of the citizen?", "你好，请介绍一下你自己。"):
        messages = [{"role": "user", "content": question}]
        prompt = generation_prompt(messages, tok.sp.encode, ids)
        assert hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                          return_dict=False) == prompt
        mine = list(generate(model, prompt, 24, Sampling(temperature=0.0), stop=(ids.end, ids.eos)))
        assert len(mine) >= 5
        out = hf.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                          do_sample=False, max_new_tokens=24)
        theirs = out[0, len(prompt):].tolist()
        if theirs and theirs[-1] in (ids.end, ids.eos):
            theirs = theirs[:-1]  # HF keeps the stop token; ours does not yield it
        assert theirs == mine
        shown = CliRunner().invoke(app, ["chat", "--checkpoint", str(checkpoint), "--prompt", question,
                                         "--temperature", "0", "--max-new-tokens", "24", "--device", "cpu"])
        assert shown.exit_code == 0, shown.output
        assert shown.stdout == hf_tok.decode(out[0, len(prompt):], skip_special_tokens=True) + "\n"


def test_tokenizer_ids_and_text_equal_ours(models):
    _, exported, _, tok = models()
    hf_tok = hf_tokenizer(exported)
    for text in TEXTS:
        ids = tok.sp.encode(text)
        assert hf_tok(text)["input_ids"] == ids, text
        assert hf_tok.decode(ids) == text == tok.sp.decode(ids)
    assert any(tok.sp.is_byte(i) for i in tok.sp.encode(TEXTS[3]))  # emoji through byte fallback
    # The one documented difference: typed marker text is a special token in HF, plain text in ours.
    assert hf_tok("<|user|>", add_special_tokens=False)["input_ids"] == [tok.id("<|user|>")]
    assert tok.id("<|user|>") not in tok.sp.encode("<|user|>")


def test_chat_template_equals_raylm_chat_v1(models):
    _, exported, _, tok = models()
    hf_tok = hf_tokenizer(exported)
    ids = ChatIds.of(tok)
    conversation = [
        {"role": "system", "content": "You are a terse assistant. 回答要简短。"},
        {"role": "user", "content": "Who speaks first?"},
        {"role": "assistant", "content": "The First Citizen."},
        {"role": "user", "content": " And then? (2 words)"},
        {"role": "assistant", "content": "所有人。"},
        {"role": "user", "content": "Thanks 👍"},
    ]
    expected = generation_prompt(conversation, tok.sp.encode, ids)
    assert hf_tok.apply_chat_template(conversation, add_generation_prompt=True, return_dict=False) == expected
    closed = conversation + [{"role": "assistant", "content": "Bye."}]
    assert hf_tok.apply_chat_template(closed, return_dict=False) == render(closed, tok.sp.encode, ids)[0]
    generation = json.loads((exported / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [ids.end, ids.eos]


def test_output_folder_lifecycle(models, tmp_path):
    checkpoint = models()[0]
    run = CliRunner()
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    refused = run.invoke(app, ["export", "--checkpoint", str(checkpoint), "-o", str(user)])
    assert refused.exit_code == 1 and "was not written by this tool" in refused.output
    assert (user / "notes.txt").read_text() == "keep me" and len(list(user.iterdir())) == 1

    out = tmp_path / "hf"
    first = run.invoke(app, ["export", "--checkpoint", str(checkpoint), "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["tokenizer_pieces"] == VOCAB
    marker = json.loads((out / MARKER).read_text())
    assert marker["step"] == 30 and len(marker["weights_sha256"]) == 64
    again = run.invoke(app, ["export", "--checkpoint", str(checkpoint), "-o", str(out), "--dtype", "bfloat16"])
    assert again.exit_code == 0 and json.loads((out / MARKER).read_text())["dtype"] == "bfloat16"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    (out / "README.md").write_text("my notes")  # a user's file in our export: it is theirs now
    assert run.invoke(app, ["export", "--checkpoint", str(checkpoint), "-o", str(out)]).exit_code == 1
    assert run.invoke(app, ["export", "--checkpoint", str(checkpoint), "-o", str(out), "--overwrite"]).exit_code == 0
    assert not (out / "README.md").exists()

    inside = run.invoke(app, ["export", "--checkpoint", str(checkpoint), "-o", str(checkpoint / "hf")])
    assert inside.exit_code == 1 and "inside the checkpoint" in inside.output
    bad = run.invoke(app, ["export", "--checkpoint", str(checkpoint), "-o", str(tmp_path / "x"), "--dtype", "fp8"])
    assert bad.exit_code == 2 and "--dtype fp8" in bad.output


def test_tokenizer_flag_for_checkpoints_without_one(models, sp_model, tmp_path):
    checkpoint = models()[0]
    old = tmp_path / "old-step"
    old.mkdir()
    for f in checkpoint.iterdir():
        if f.name != TOKENIZER:
            (old / f.name).write_bytes(f.read_bytes())
    with pytest.raises(UserError, match="pass --tokenizer MODEL"):
        export_checkpoint(old, tmp_path / "a")
    model_file = tmp_path / "m.model"
    model_file.write_bytes(sp_model)
    export_checkpoint(old, tmp_path / "a", tokenizer=str(model_file))
    assert (tmp_path / "a" / TOKENIZER).read_bytes() == sp_model
    proto = parse_model(sp_model, "m.model")
    proto.pieces[-1].score -= 1.0  # another tokenizer: its sha256 differs
    model_file.write_bytes(proto.SerializeToString())
    with pytest.raises(UserError, match="but the run was trained with tokenizer"):
        export_checkpoint(old, tmp_path / "b", tokenizer=str(model_file))
    assert not (tmp_path / "b").exists()
    # A state.json that records no tokenizer: --tokenizer is taken as given (nothing to check it against).
    state = json.loads((old / "state.json").read_text())
    del state["tokenizer"]
    (old / "state.json").write_text(json.dumps(state))
    export_checkpoint(old, tmp_path / "c", tokenizer=str(model_file))
    assert (tmp_path / "c" / TOKENIZER).read_bytes() == model_file.read_bytes()


def test_tokenizers_without_an_exact_hf_form_are_refused(sp_model):
    check_exportable(parse_model(sp_model, "ok.model"), "ok.model")
    unigram = parse_model(sp_model, "u.model")
    unigram.trainer_spec.model_type = 1  # UNIGRAM
    with pytest.raises(UserError, match="u.model is a unigram model"):
        check_exportable(unigram, "u.model")
    nfkc = parse_model(sp_model, "n.model")
    nfkc.normalizer_spec.name = "nmt_nfkc"
    with pytest.raises(UserError, match="normalization rule 'nmt_nfkc' is not exported"):
        check_exportable(nfkc, "n.model")
