"""`dataprep tokenizer`: train a sentencepiece model on a bounded uniform sample of one or more datasets.

Choices, and why:
- byte fallback: any character outside the vocabulary becomes its UTF-8 bytes, so nothing maps to <unk>;
- split digits: numbers are read digit by digit, which helps arithmetic and keeps numbers from eating the vocabulary;
- character coverage 0.9995: the value sentencepiece recommends for Chinese/Japanese (rare characters go to bytes);
- identity normalization, whitespace kept: decode(encode(text)) == text exactly (no NFKC, no space collapsing);
- fixed special ids 0-7 (see specials.py) as control symbols, so text can never produce them.

Writes MODEL_PREFIX.model, MODEL_PREFIX.vocab and MODEL_PREFIX.json (special ids, chat template, sha256).
"""

from __future__ import annotations

import hashlib
import json
import io
import os
import re
from typing import Any, Optional

import sentencepiece as spm

from dataprep.dataset import storage
from dataprep.errors import UserError
from dataprep.tokenizer import specials
from dataprep.tokenizer.model import from_bytes
from dataprep.tokenizer.sample import sample_texts, training_sentences

DEFAULT_SAMPLE_BYTES = 100_000_000


def trainer_options(vocab_size: int, model_type: str, character_coverage: float, threads: int) -> dict:
    return dict(
        vocab_size=vocab_size,
        model_type=model_type,
        byte_fallback=True,
        split_digits=True,
        character_coverage=character_coverage,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        unk_piece=specials.UNK, bos_piece=specials.BOS, eos_piece=specials.EOS, pad_piece=specials.PAD,
        control_symbols=list(specials.CONTROL_SYMBOLS),
        max_sentence_length=1 << 14,
        num_threads=threads,
        minloglevel=2,
    )


def written_by_us(model_prefix: str, job_key: Optional[str] = None) -> bool:
    """PREFIX.model was written by this tool when PREFIX.json beside it records the model's sha256 (and, when
    `job_key` is given, by a run of that job: same inputs, parameters and code)."""
    fs, root = storage.resolve(model_prefix)
    try:
        description = json.loads(fs.cat_file(root + ".json"))
        ours = description.get("sha256") == hashlib.sha256(fs.cat_file(root + ".model")).hexdigest()
    except (FileNotFoundError, OSError, ValueError, AttributeError):
        return False
    return ours and (job_key is None or description.get("training", {}).get("job_key") == job_key)


_REQUIRED_CHARS = re.compile(r"smaller than required_chars\. (\d+) vs (\d+)")
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")


def explain_failure(message: str, character_coverage: float) -> str:
    """sentencepiece's advice in our flags' words (it names its own options: --character_coverage)."""
    if m := _REQUIRED_CHARS.search(message):
        vocab, needed = (int(g) for g in m.groups())
        return (f"the text needs {needed:,} character pieces but --vocab-size is {vocab:,}: raise --vocab-size above "
                f"{needed:,} or lower --character-coverage (now {character_coverage}) so rare characters become bytes")
    if m := _TOO_HIGH.search(message):
        vocab, most = (int(g) for g in m.groups())
        return (f"--vocab-size {vocab:,} is more pieces than this sample can yield (at most {most:,}); lower "
                "--vocab-size or train on more text (--sample-bytes, more inputs)")
    detail = re.sub(r"^.*?\] ", "", message.strip().splitlines()[-1])  # drop "INTERNAL: src/x.cc(12) [check] "
    return re.sub(r"--([a-z]+)_([a-z_]+)", lambda m: "--" + m.group(0)[2:].replace("_", "-"), detail)


def train_tokenizer(
    inputs: list[str],
    model_prefix: str,
    vocab_size: int,
    model_type: str = "bpe",
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    character_coverage: float = 0.9995,
    seed: int = 0,
    threads: Optional[int] = None,
    job_key: Optional[str] = None,
) -> dict[str, Any]:
    """Train and write the model; return the description written to MODEL_PREFIX.json.

    The parameters are validated by the tokenizer step's model (`dataprep.steps.tokenizer`)."""
    texts = sample_texts(inputs, sample_bytes, seed)
    if not texts:
        raise UserError(f"no text to train on in {', '.join(inputs)}")
    options = trainer_options(vocab_size, model_type, character_coverage, threads or os.cpu_count() or 1)
    spm.set_random_generator_seed(seed)  # sentencepiece's own sampling and unigram seeding
    sink = io.BytesIO()  # no model_prefix: a temporary path would end up inside the model bytes
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=training_sentences(texts), model_writer=sink, **options)
    except RuntimeError as exc:
        raise UserError(f"tokenizer training failed: {explain_failure(str(exc), character_coverage)}") from None
    model = canonical_model(sink.getvalue())
    sample_size = sum(len(t.encode("utf-8")) for t in texts)
    return write_artifacts(model_prefix, model, {
        "model_type": model_type, "sample_rows": len(texts), "sample_bytes": sample_size,
        "character_coverage": character_coverage, "seed": seed, "inputs": list(inputs), "job_key": job_key,
    })


def canonical_model(data: bytes) -> bytes:
    """The model with its thread count fixed: the pieces do not depend on it, so neither should the sha256."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(data)
    proto.trainer_spec.num_threads = 1
    return proto.SerializeToString(deterministic=True)


def vocab_text(tok) -> bytes:
    """sentencepiece's .vocab format: piece TAB score, one per line, in id order."""
    sp = tok.sp
    return "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size())).encode()


def write_artifacts(model_prefix: str, model: bytes, training: dict[str, Any]) -> dict[str, Any]:
    fs, root = storage.resolve(model_prefix)
    tok = from_bytes(model, model_prefix + ".model")
    vocab = vocab_text(tok)
    description = {
        **tok.info(),
        "sha256": hashlib.sha256(model).hexdigest(),
        "bos_id": tok.special_tokens[specials.BOS],
        "unk_id": tok.special_tokens[specials.UNK],
        "normalization": "identity (no NFKC, whitespace kept); byte fallback; digits split",
        "chat_template": specials.CHAT_TEMPLATE,
        "training": training,
    }
    if storage.is_local(fs):
        os.makedirs(os.path.dirname(os.path.abspath(root)) or ".", exist_ok=True)
    storage.atomic_write(fs, root + ".model", model)
    storage.atomic_write(fs, root + ".vocab", vocab)
    storage.atomic_write(fs, root + ".json", (json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode())
    return description
