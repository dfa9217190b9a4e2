"""End to end on real corpora: ingest -> train the tokenizer -> token shards for the three training kinds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from dataprep.dataset import open_dataset
from dataprep.tokenizer import specials
from dataprep.tokenizer.model import load_tokenizer


def spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of ones."""
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def test_tokenizer_files_and_special_ids(tok_corpus):
    model = Path(tok_corpus["model"])
    described = json.loads(model.with_suffix(".json").read_text())
    assert described["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert described["special_tokens"] == {p: i for i, p in enumerate(specials.SPECIAL_TOKENS)}
    assert described["eos_id"] == 2 and described["pad_id"] == 3 and described["vocab_size"] == 4000
    assert described["chat_template"]["end_of_turn"] == "<|end|>"
    assert model.with_suffix(".vocab").read_text().startswith("<unk>")
    tok = load_tokenizer(str(model))
    # Control symbols are never produced from text: typing a marker gives ordinary pieces.
    assert not set(tok.sp.encode("<|user|> <|endoftext|>")) & set(range(8))
    assert tok.sp.encode("2024") == [tok.sp.piece_to_id(p) for p in tok.sp.encode("2024", out_type=str)]
    assert len(tok.sp.encode("2024", out_type=str)) >= 4  # digits are split


def test_round_trip_english_and_chinese(tok_corpus):
    tok = load_tokenizer(tok_corpus["model"])
    for lang in ("en", "zh"):
        docs = open_dataset(tok_corpus["inputs"][lang]).to_table()
        toks = open_dataset(tok_corpus["tokens"][lang]).to_table()
        assert toks["id"].to_pylist() == docs["id"].to_pylist()
        for text, ids in zip(docs["text"].to_pylist(), toks["tokens"].to_pylist()):
            assert ids[-1] == tok.eos_id and tok.eos_id not in ids[:-1]
            assert tok.decode(ids[:-1]) == text  # identity normalization: exact


def test_manifest_records_tokenizer_and_counts(tok_corpus):
    ds = open_dataset(tok_corpus["tokens"]["en"], kind="tokens")
    prov = ds.manifest.provenance
    assert prov["token_layout"] == "documents"
    assert prov["tokenizer"]["sha256"] == tok_corpus["info"]["sha256"]
    assert prov["tokenizer"]["special_tokens"]["<|endoftext|>"] == prov["tokenizer"]["eos_id"] == 2
    assert prov["tokenizer"]["model"] == tok_corpus["model"]
    assert ds.schema.field("tokens").type == pa.large_list(pa.uint16())
    total = 0
    for i, shard in enumerate(ds.shards):
        n = sum(len(t) for t in ds.read_shard(i)["tokens"].to_pylist())
        assert shard.tokens == n
        total += n
    assert ds.manifest.tokens == total > 0


def test_shards_memory_map_without_copy(tok_corpus):
    ds = open_dataset(tok_corpus["tokens"]["zh"])
    path = ds.shard_url(0)
    before = pa.total_allocated_bytes()
    with pa.memory_map(path, "r") as source:
        table = pa.ipc.open_file(source).read_all()
        chunk = table.column("tokens").chunks[0]
        values = chunk.values.to_numpy(zero_copy_only=True)  # raises if a copy were needed
        offsets = chunk.offsets.to_numpy(zero_copy_only=True)
        assert values.dtype == np.uint16 and not values.flags.writeable
        assert pa.total_allocated_bytes() == before  # nothing was read into Arrow's memory pool
        assert values[offsets[1] - 1] == 2  # the first document ends with <|endoftext|>
        assert int(offsets[-1]) <= values.size


def test_dialogue_mask_covers_assistant_turns_only(tok_corpus):
    tok = load_tokenizer(tok_corpus["model"])
    dialogues = open_dataset(tok_corpus["inputs"]["dialogues"]).to_table().to_pylist()
    toks = open_dataset(tok_corpus["tokens"]["dialogues"]).to_table()
    assert toks.schema.field("loss_mask").type == pa.large_list(pa.uint8())
    end, asst = tok.id(specials.END), tok.id(specials.ASSISTANT)
    multi_turn = 0
    for row, ids, mask in zip(dialogues, toks["tokens"].to_pylist(), toks["loss_mask"].to_pylist()):
        ids, mask = np.array(ids), np.array(mask)
        assert len(ids) == len(mask) and ids[-1] == tok.eos_id and mask[-1] == 0
        assistant = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        runs = spans(mask)
        # Each masked run is one assistant message's content plus its <|end|>, right after <|assistant|>.
        assert [tok.decode(ids[a:b - 1]) for a, b in runs] == assistant
        assert all(ids[b - 1] == end and ids[a - 1] == asst for a, b in runs)
        # Everything unmasked decodes to the other turns only.
        others = [m["content"] for m in row["messages"] if m["role"] != "assistant"]
        assert tok.decode(ids[mask == 0]) == " ".join(others) or not others
        multi_turn += len(assistant) > 1
    assert multi_turn >= 20  # KdConv conversations are long


def test_preference_pairs_share_the_prompt_and_mask_responses(tok_corpus):
    tok = load_tokenizer(tok_corpus["model"])
    pairs = open_dataset(tok_corpus["inputs"]["preferences"]).to_table().to_pylist()
    ds = open_dataset(tok_corpus["tokens"]["preferences"])
    assert ds.manifest.provenance["token_layout"] == "preferences"
    toks = ds.to_table().to_pylist()
    assert len(toks) == len(pairs) > 100
    for pair, row in zip(pairs, toks):
        n = row["prompt_tokens"]
        assert row["tokens"][:n] == row["rejected_tokens"][:n]
        for side, ids, mask in (("chosen", row["tokens"], row["loss_mask"]),
                                ("rejected", row["rejected_tokens"], row["rejected_loss_mask"])):
            ids, mask = np.array(ids), np.array(mask)
            assert not mask[:n].any() and ids[-1] == tok.eos_id
            assert [tok.decode(ids[a:b - 1]) for a, b in spans(mask)] == [m["content"] for m in pair[side]]
    shard_total = sum(len(r["tokens"]) + len(r["rejected_tokens"]) for r in toks)
    assert ds.manifest.tokens == shard_total


def test_stats_on_token_datasets(tok_corpus):
    from dataprep.report import summarize

    docs = summarize(open_dataset(tok_corpus["tokens"]["zh"]))
    assert docs["tokens"] > 0 and docs["tokens_per_row"]["p50"] > 0
    assert set(docs["bytes_per_token"]) == {"all", "zh"} and docs["bytes_per_token"]["zh"] > 1.5
    assert "masked_token_share" not in docs
    dialogues = summarize(open_dataset(tok_corpus["tokens"]["dialogues"]))
    assert 0.2 < dialogues["masked_token_share"] < 0.9
    assert {"en", "zh"} <= set(dialogues["bytes_per_token"])
    assert [s["name"] for s in dialogues["stages"]] == ["ingest", "tokenize"]
