"""`training chat`'s interactive loop over a scripted model, for the pseudo-terminal tests.

    python tests/training/scripted_chat.py TOKENIZER.model SCRIPT.json LOG.jsonl

SCRIPT.json: {"answers": [[token ids], ...], "delay": seconds per token, "context": tokens}. The model ignores what
it is fed and says the next scripted answer, one token per forward pass (then <|end|>), and appends the prompt it
was prefilled with to LOG.jsonl: what the tests assert on. Everything else (template, KV cache, sampling,
streaming decoder, commands, Ctrl+C) is training.chat's and training.generate's own code.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dataprep.tokenizer.model import load_tokenizer  # noqa: E402
from training.chat import Chat, ChatOptions, interactive  # noqa: E402
from training.generate import Sampling  # noqa: E402
from training.model import GPTConfig  # noqa: E402

END = 7  # <|end|>


class ScriptedModel(torch.nn.Module):
    def __init__(self, answers: list[list[int]], vocab: int, context: int, log: Path, delay: float):
        super().__init__()
        self.cfg = GPTConfig(vocab_size=vocab, n_layer=1, n_head=1, n_kv_head=1, d_model=2, max_seq_len=context)
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.answers, self.log, self.delay = answers, log, delay
        self.turn, self.at = -1, 0

    @property
    def head_weight(self) -> torch.Tensor:
        return self.anchor

    def forward(self, idx, positions=None, doc_ids=None, cache=None, return_hidden=False):
        if cache is None or cache.pos == 0:  # a prefill: a new answer begins
            with open(self.log, "a") as handle:
                handle.write(json.dumps(idx[0].tolist()) + "\n")
            self.turn, self.at = self.turn + 1, 0
        answer = self.answers[self.turn] if self.turn < len(self.answers) else []
        token = answer[self.at] if self.at < len(answer) else END
        self.at += 1
        time.sleep(self.delay)
        logits = torch.full((1, idx.shape[1], self.cfg.vocab_size), -1e9)
        logits[0, -1, token] = 0.0
        if cache is not None:
            cache.advance(idx.shape[1])
        return logits


def main() -> int:
    tokenizer_path, script_path, log_path = sys.argv[1:4]
    script = json.loads(Path(script_path).read_text())
    tok = load_tokenizer(tokenizer_path)
    model = ScriptedModel(script["answers"], tok.vocab_size, script["context"], Path(log_path), script["delay"])
    chat = Chat(model, tok, ChatOptions(sampling=Sampling(temperature=0.7, top_k=50, top_p=0.9, seed=0)))
    return interactive(chat, "scripted chat")


if __name__ == "__main__":
    sys.exit(main())
