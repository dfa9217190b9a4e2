"""MinHash signatures, LSH parameters and band keys (no Ray)."""

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from dataprep.dedup import minhash
from dataprep.dedup.lsh import band_keys, optimal_params
from dataprep.dedup.shingles import shingle_hashes, tokenize
from tests.dedup.corpus import chinese, english


def _shingles(texts, ngram=5):
    return shingle_hashes(tokenize(pa.array(texts)), ngram)


def test_signatures_equal_datasketch_affine32_on_the_same_hashes():
    texts = [t for _, t in english()[:5]] + [t for _, t in chinese()[:5]]
    shingles, offsets = _shingles(texts)
    a, b = minhash.permutations(128, seed=1)
    sigs = minhash.signatures(shingles, offsets, a, b)
    inputs = minhash.hash32(shingles)
    for i in range(len(texts)):
        m = MinHash(num_perm=128, seed=1, hashfunc=int)
        m.update_batch(inputs[offsets[i] : offsets[i + 1]].tolist())
        assert (m.hashvalues == sigs[i]).all()


def test_signatures_do_not_depend_on_block_size(monkeypatch):
    texts = [t for _, t in english()[:30]] + ["", "short"] + [t for _, t in chinese()[:10]]
    shingles, offsets = _shingles(texts)
    a, b = minhash.permutations(64)
    big = minhash.signatures(shingles, offsets, a, b)
    monkeypatch.setattr(minhash, "CHUNK_BYTES", 4096)  # many blocks, documents spanning several
    small = minhash.signatures(shingles, offsets, a, b)
    assert (big == small).all()
    assert (big[30] == minhash.EMPTY).all()


def test_jaccard_estimate_tracks_true_jaccard():
    rng = np.random.default_rng(0)
    words = [w for _, t in english()[:20] for w in t.split()]
    base = words[:400]
    a, b = minhash.permutations(256)
    errors = []
    for changed in (0, 10, 40, 80, 160):
        other = list(base)
        for i in rng.choice(len(base), changed, replace=False):
            other[i] = f"xq{i}"
        shingles, offsets = _shingles([" ".join(base), " ".join(other)])
        s1 = set(shingles[offsets[0] : offsets[1]].tolist())
        s2 = set(shingles[offsets[1] : offsets[2]].tolist())
        true = len(s1 & s2) / len(s1 | s2)
        sigs = minhash.signatures(shingles, offsets, a, b)
        errors.append(abs(minhash.jaccard(sigs[0], sigs[1]) - true))
    assert max(errors) < 0.08, errors


@pytest.mark.parametrize("threshold,num_perm", [(0.8, 128), (0.7, 128), (0.9, 112), (0.5, 64)])
def test_bands_and_rows_match_datasketch(threshold, num_perm):
    assert optimal_params(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_band_keys_are_equal_exactly_when_bands_are():
    rng = np.random.default_rng(1)
    sig = rng.integers(0, 2**32, size=(3, 12), dtype=np.uint32)
    sig[1, :4] = sig[0, :4]  # band 0 shared
    sig[2] = sig[0]
    sig[2, 4:8] = sig[0, 0:4]  # same values in another band must not collide
    keys = band_keys(sig, 3, 4)
    assert keys[0, 0] == keys[1, 0] and (keys[0, 1:] != keys[1, 1:]).all()
    assert keys[2, 1] != keys[0, 0]
    assert len(set(keys.reshape(-1).tolist())) == 6  # 3 + 2 new in row 1 + 1 new in row 2
