"""The chat template: the vectorized renderer equals the readable one, and the mask marks assistant turns only."""

from __future__ import annotations

import numpy as np

from dataprep.tokenizer.template import ChatIds, generation_prompt, render, render_batch, role_code

IDS = ChatIds(role=(4, 5, 6), end=7, eos=2)


def fake_encode(text: str) -> list[int]:
    return [100 + (ord(c) % 50) for c in text]


def conversations():
    rng = np.random.default_rng(0)
    out = []
    for n in range(40):
        messages = [{"role": "system", "content": "be brief"}] if n % 3 == 0 else []
        for turn in range(int(rng.integers(1, 5))):
            messages.append({"role": "user", "content": "q" * int(rng.integers(0, 6))})
            messages.append({"role": "assistant", "content": "a" * int(rng.integers(0, 6))})
        out.append(messages)
    return out


def test_render_layout_and_mask():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    tokens, mask = render(messages, fake_encode, IDS)
    e = fake_encode
    assert tokens == [4, *e("s"), 7, 5, *e("hi"), 7, 6, *e("yo"), 7, 2]
    assert mask == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0]


def test_render_batch_equals_reference():
    convs = conversations()
    sizes = np.array([len(c) for c in convs])
    flat = [m for c in convs for m in c]
    roles = np.array([role_code(m["role"]) for m in flat])
    contents = [np.array(fake_encode(m["content"]), dtype=np.int32) for m in flat]
    trained = roles == 2
    offsets, tokens, mask = render_batch(sizes, roles, contents, trained, IDS, np.uint16)
    assert tokens.dtype == np.uint16 and mask.dtype == np.uint8 and offsets[-1] == len(tokens)
    for i, conv in enumerate(convs):
        ref_tokens, ref_mask = render(conv, fake_encode, IDS)
        assert tokens[offsets[i]:offsets[i + 1]].tolist() == ref_tokens
        assert mask[offsets[i]:offsets[i + 1]].tolist() == ref_mask


def test_render_batch_custom_trained_flags():
    conv = [{"role": "user", "content": "ab"}, {"role": "assistant", "content": "cd"},
            {"role": "user", "content": "e"}, {"role": "assistant", "content": "fg"}]
    trained = [False, False, False, True]  # DPO: only the response is scored
    offsets, tokens, mask = render_batch(
        np.array([4]), np.array([1, 2, 1, 2]), [np.array(fake_encode(m["content"])) for m in conv],
        np.array(trained), IDS, np.uint16)
    ref_tokens, ref_mask = render(conv, fake_encode, IDS, trained)
    assert tokens.tolist() == ref_tokens and mask.tolist() == ref_mask
    assert mask.sum() == 3  # "fg" and its <|end|>


def test_generation_prompt_ends_with_assistant_marker():
    prompt = generation_prompt([{"role": "user", "content": "hi"}], fake_encode, IDS)
    assert prompt == [5, *fake_encode("hi"), 7, 6]
