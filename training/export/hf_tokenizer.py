"""Our sentencepiece model as a Hugging Face tokenizer: `tokenizer.json`, `tokenizer_config.json` (with the
raylm-chat-v1 template in Jinja) and `special_tokens_map.json`, written from the model proto alone (sentencepiece's
protobuf; neither `tokenizers` nor `transformers` is needed to write them).

How each sentencepiece behaviour is reproduced, so that HF ids equal `SentencePieceProcessor.encode` ids:
- identity normalization, whitespace kept: no normalizer but the two below;
- whitespace escaped to U+2581 and the dummy prefix, on every chunk between special tokens (each chat message is
  encoded on its own): `Replace(" ", "▁")` then `Prepend("▁")` as normalizers. Not a Metaspace pre-tokenizer:
  Metaspace adds no prefix to text that already starts with a space, where sentencepiece does (" hi" is
  "▁▁hi"), so " hi" would get other ids;
- BPE merges: sentencepiece merges the adjacent pair whose concatenation is the highest-scored piece; HF merges
  by rank. Every split of every normal piece into two normal pieces is a merge, ranked by the piece's score (BPE
  scores are distinct), so both merge in the same order. Byte and control pieces are never merge results;
- byte fallback: a character outside the vocabulary becomes its UTF-8 byte pieces `<0xNN>`;
- decoding: "▁" back to spaces, byte pieces fused into characters, the first leading space (the dummy prefix)
  dropped, as `SentencePieceProcessor.decode` does.

One difference cannot be removed: sentencepiece never reads control symbols from text (typing "<|user|>" gives
ordinary pieces), while HF tokenizers match special tokens in text. The README says so.

A unigram model is refused: HF's Unigram model matches every vocabulary entry in text, byte pieces included, so
text such as "<0x41>" would become the byte token for "A" where sentencepiece reads six characters.
"""

from __future__ import annotations

from typing import Any

from sentencepiece import sentencepiece_model_pb2

from dataprep.errors import UserError
from dataprep.tokenizer import specials

SPACE = "\u2581"  # sentencepiece's whitespace mark
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # SentencePiece.Type
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


def parse_model(data: bytes, name: str) -> sentencepiece_model_pb2.ModelProto:
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError has no stable import path across versions
        raise UserError(f"{name} is not a sentencepiece model ({exc})") from None
    if not proto.pieces:
        raise UserError(f"{name} is not a sentencepiece model (no pieces)")
    return proto


def check_exportable(proto, name: str) -> None:
    """Refuse, in one line naming the feature, a model whose encoding the tokenizer.json below would not equal."""
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    model_type = MODEL_TYPES.get(trainer.model_type, str(trainer.model_type))
    if model_type == "unigram":
        raise UserError(f"{name} is a unigram model, which has no exact Hugging Face equivalent (HF's Unigram reads "
                        "text such as '<0x41>' as a byte token); train the tokenizer with --model-type bpe")
    refusals = [
        (model_type != "bpe", f"model type {model_type}"),
        (norm.name != "identity" or bool(norm.precompiled_charsmap), f"normalization rule {norm.name!r}"),
        (norm.remove_extra_whitespaces, "remove_extra_whitespaces"),
        (not norm.escape_whitespaces or not norm.add_dummy_prefix, "no dummy prefix / whitespace escaping"),
        (trainer.treat_whitespace_as_suffix, "treat_whitespace_as_suffix"),
        (not trainer.byte_fallback, "no byte fallback"),
        (any(p.type in (USER_DEFINED, UNUSED) for p in proto.pieces), "user-defined or unused pieces"),
    ]
    for refused, feature in refusals:
        if refused:
            raise UserError(f"{name}: {feature} is not exported (an exact Hugging Face tokenizer is written only for "
                            "tokenizers trained by `dataprep tokenizer`)")
    pieces = {p.piece: i for i, p in enumerate(proto.pieces)}
    missing = [t for t in specials.SPECIAL_TOKENS if t not in pieces]
    if missing:
        raise UserError(f"{name} has no {', '.join(missing)} token(s); train the tokenizer with `dataprep tokenizer`")


def special_ids(proto) -> dict[str, int]:
    """Our special tokens (specials.SPECIAL_TOKENS) and their ids in this model."""
    pieces = {p.piece: i for i, p in enumerate(proto.pieces)}
    return {token: pieces[token] for token in specials.SPECIAL_TOKENS}


def bpe_merges(proto) -> list[list[str]]:
    """Every (left, right) of normal pieces whose concatenation is a normal piece, best-scored result first."""
    normal = {p.piece: (p.score, i) for i, p in enumerate(proto.pieces) if p.type == NORMAL}
    ranked = []
    for piece, (score, idx) in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((-score, idx, cut, left, right))
    ranked.sort()
    return [[left, right] for *_, left, right in ranked]


def _added_token(idx: int, content: str) -> dict[str, Any]:
    return {"id": idx, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def tokenizer_json(proto) -> dict[str, Any]:
    """The `tokenizers` library's serialized form (tokenizer.json) of this BPE model."""
    unk = proto.pieces[proto.trainer_spec.unk_id].piece
    specials_in_model = [(i, p.piece) for i, p in enumerate(proto.pieces) if p.type in (UNKNOWN, CONTROL)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_added_token(i, piece) for i, piece in specials_in_model],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
            {"type": "Prepend", "prepend": SPACE},
        ]},
        "pre_tokenizer": None,
        "post_processor": None,  # no BOS, no EOS: our ids never carry them implicitly
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": {p.piece: i for i, p in enumerate(proto.pieces)},
            "merges": bpe_merges(proto),
        },
    }


def chat_template() -> str:
    """raylm-chat-v1 (dataprep.tokenizer.template) in Jinja: each message is its role token, its content, then
    <|end|>; then <|assistant|> to ask for an answer, or <|endoftext|> to close a conversation (training's form).
    The content sits alone between two special tokens, so it is encoded on its own with its dummy prefix."""
    role = specials.ROLE_TOKENS
    return (
        "{% for message in messages %}"
        f"{{% if message['role'] == 'system' %}}{role['system']}"
        f"{{% elif message['role'] == 'user' %}}{role['user']}"
        f"{{% elif message['role'] == 'assistant' %}}{role['assistant']}"
        "{% else %}{{ raise_exception('raylm-chat-v1 has the roles system, user and assistant, not ' "
        "+ message['role']) }}{% endif %}"
        f"{{{{ message['content'] }}}}{specials.END}"
        "{% endfor %}"
        f"{{% if add_generation_prompt %}}{role['assistant']}{{% else %}}{specials.EOS}{{% endif %}}"
    )


def special_tokens_map() -> dict[str, Any]:
    return {
        "bos_token": specials.BOS,
        "eos_token": specials.EOS,
        "unk_token": specials.UNK,
        "pad_token": specials.PAD,
        "additional_special_tokens": list(specials.CHAT_TOKENS),
    }


def tokenizer_config(proto, model_max_length: int) -> dict[str, Any]:
    """tokenizer_config.json. `PreTrainedTokenizerFast` (transformers 4) is `TokenizersBackend` in transformers 5:
    both load tokenizer.json as it is, where `LlamaTokenizer` would rebuild its own pre-tokenizer."""
    ids = special_ids(proto)
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special_tokens_map(),
        "extra_special_tokens": list(specials.CHAT_TOKENS),  # transformers 5's name for the list above
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "padding_side": "left",  # batched generation pads on the left
        "chat_template": chat_template(),
        "added_tokens_decoder": {
            str(idx): {k: v for k, v in _added_token(idx, token).items() if k != "id"} for token, idx in ids.items()
        },
    }
