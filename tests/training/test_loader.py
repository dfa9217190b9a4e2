import json

import numpy as np
import pyarrow as pa
import pytest

from dataprep.dataset import open_dataset, tokens_schema, write_dataset
from dataprep.errors import UserError
from training.loader import WindowLoader, eval_batches, num_windows, split_windows
from training.shards import open_token_stream

SEQ = 64


def all_tokens(url: str) -> np.ndarray:
    ds = open_dataset(url, kind="tokens")
    return np.concatenate([np.concatenate(ds.read_shard(i).column("tokens").to_pylist()) for i in range(len(ds.shards))])


def test_stream_is_the_documents_end_to_end_each_ending_in_eos(tokens_ds):
    stream = open_token_stream(tokens_ds)
    expected = all_tokens(tokens_ds)
    assert stream.num_tokens == expected.size
    assert len(stream.segments) >= 3  # one per shard at least: windows do straddle shards
    out = np.empty(stream.num_tokens, dtype=np.int64)
    stream.read(0, out)
    assert np.array_equal(out, expected)
    assert (out == stream.tokenizer.eos_id).sum() == open_dataset(tokens_ds).manifest.rows
    # The segments are views of the memory-mapped files, not copies.
    assert all(not seg.flags.owndata for seg in stream.segments)


def test_windows_are_next_token_pairs_from_the_stream(tokens_ds):
    stream = open_token_stream(tokens_ds)
    flat = all_tokens(tokens_ds)
    loader = WindowLoader(stream, SEQ, 4, seed=1)
    ids = loader.window_ids(0, 0)
    x, y = loader.next_batch()
    for row, w in enumerate(ids):
        assert np.array_equal(x[row].numpy(), flat[w * SEQ : w * SEQ + SEQ])
        assert np.array_equal(y[row].numpy(), flat[w * SEQ + 1 : w * SEQ + SEQ + 1])


def test_order_is_a_pure_function_of_seed_epoch_and_world(tokens_ds):
    stream = open_token_stream(tokens_ds)
    a, b = WindowLoader(stream, SEQ, 4, seed=7), WindowLoader(stream, SEQ, 4, seed=7)
    assert all(np.array_equal(a.next_batch()[0], b.next_batch()[0]) for _ in range(5))
    c = WindowLoader(stream, SEQ, 4, seed=8)
    assert not np.array_equal(a.window_ids(0, 0), c.window_ids(0, 0))
    assert not np.array_equal(a.permutation(0), a.permutation(1))  # a new order every epoch


def test_ranks_get_disjoint_windows_covering_the_epoch(tokens_ds):
    stream = open_token_stream(tokens_ds)
    world = 3
    loaders = [WindowLoader(stream, SEQ, 4, seed=3, rank=r, world_size=world) for r in range(world)]
    seen = [set() for _ in range(world)]
    for b in range(loaders[0].batches_per_epoch):
        for r, loader in enumerate(loaders):
            seen[r].update(loader.window_ids(0, b).tolist())
    assert all(not (seen[i] & seen[j]) for i in range(world) for j in range(i + 1, world))
    union = set().union(*seen)
    assert len(union) == loaders[0].batches_per_epoch * 4 * world  # only the last partial global batch is dropped
    assert len(union) > num_windows(stream, SEQ) - 4 * world


def test_state_dict_resumes_at_the_exact_next_batch_across_epochs(tokens_ds):
    stream = open_token_stream(tokens_ds)
    full = WindowLoader(stream, SEQ, 8, seed=5, rank=1, world_size=2)
    n = full.batches_per_epoch + 3  # crosses an epoch boundary
    reference = [full.next_batch()[0] for _ in range(n)]
    first = WindowLoader(stream, SEQ, 8, seed=5, rank=1, world_size=2)
    for _ in range(n // 2):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))  # it travels as JSON in checkpoints
    resumed = WindowLoader(stream, SEQ, 8, seed=5, rank=1, world_size=2)
    resumed.load_state_dict(state)
    rest = [resumed.next_batch()[0] for _ in range(n - n // 2)]
    assert all(np.array_equal(a, b) for a, b in zip(reference[n // 2 :], rest))
    assert resumed.epoch == 1


def test_resume_refuses_another_world_size_or_data(tokens_ds, val_ds):
    stream = open_token_stream(tokens_ds)
    state = WindowLoader(stream, SEQ, 4, seed=1, world_size=2).state_dict()
    with pytest.raises(UserError, match="world_size"):
        WindowLoader(stream, SEQ, 4, seed=1, world_size=1).load_state_dict(state)
    other = WindowLoader(open_token_stream([tokens_ds, val_ds]), SEQ, 4, seed=1, world_size=2)
    with pytest.raises(UserError, match="data changed"):
        other.load_state_dict(state)


def test_refuses_shards_from_another_tokenizer(tokens_ds, other_tokenizer_ds):
    with pytest.raises(UserError, match="tokenizer"):
        open_token_stream([tokens_ds, other_tokenizer_ds])
    sha = open_dataset(tokens_ds).manifest.provenance["tokenizer"]["sha256"]
    with pytest.raises(UserError, match="tokenizer"):
        open_token_stream(other_tokenizer_ds, expect_tokenizer=sha)


def test_refuses_missing_provenance_and_unfinished_datasets(tmp_path):
    schema = tokens_schema(100)
    table = pa.table({"id": ["a"], "tokens": pa.array([[5, 6, 2]], schema.field("tokens").type)}, schema=schema)
    write_dataset(str(tmp_path / "bare"), "tokens", [table], schema=schema, compression=None)
    with pytest.raises(UserError, match="does not record its tokenizer"):
        open_token_stream(str(tmp_path / "bare"))
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(UserError, match="no manifest.json"):
        open_token_stream(str(tmp_path / "unfinished"))


def test_documents_without_end_of_text_are_joined_with_it(tmp_path):
    schema = tokens_schema(100)
    docs = [[5, 6, 2], [7, 8], [9]]  # the last two lack eos (id 2)
    table = pa.table({"id": ["a", "b", "c"], "tokens": pa.array(docs, schema.field("tokens").type)}, schema=schema)
    tok = {"sha256": "x", "vocab_size": 100, "eos_id": 2}
    write_dataset(str(tmp_path / "d"), "tokens", [table], schema=schema, provenance={"tokenizer": tok}, compression=None)
    stream = open_token_stream(str(tmp_path / "d"))
    out = np.empty(stream.num_tokens, dtype=np.int64)
    stream.read(0, out)
    assert out.tolist() == [5, 6, 2, 7, 8, 2, 9, 2]


def test_remote_shards_are_staged_to_local_disk_and_verified(tmp_path, tokens_ds):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.put(tokens_ds, "/staged-src", recursive=True)
    stream = open_token_stream("memory:///staged-src", cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.arrow"))) == 3
    local = open_token_stream(tokens_ds)
    assert stream.num_tokens == local.num_tokens and stream.fingerprint == local.fingerprint
    # A corrupted remote shard is refused by its sha256.
    ds = open_dataset("memory:///staged-src")
    fs.pipe_file("/staged-src/" + ds.shards[0].path, b"garbage" * 10)
    with pytest.raises(UserError, match="sha256"):
        open_token_stream("memory:///staged-src", cache_dir=tmp_path / "cache2")


def test_held_out_split_and_eval_batches(tokens_ds):
    stream = open_token_stream(tokens_ds)
    train, val = split_windows(num_windows(stream, SEQ), 0.05)
    assert train.stop == val.start and len(val) >= 1
    loader = WindowLoader(stream, SEQ, 4, seed=1, windows=train)
    assert loader.permutation(0).max() < val.start
    rank_windows = [list(eval_batches(stream, SEQ, 4, val, rank=r, world_size=2)) for r in range(2)]
    counted = sum(x.shape[0] for batches in rank_windows for x, _ in batches)
    assert counted == len(val)


def test_too_little_data_is_a_clear_error(tokens_ds):
    stream = open_token_stream(tokens_ds)
    with pytest.raises(UserError, match="fewer than one global batch"):
        WindowLoader(stream, SEQ, 4, seed=1, windows=range(3))
