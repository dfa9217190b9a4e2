"""`training chat`: talk to a checkpoint in the terminal, in-process (no Ray).

The conversation is kept as messages and rendered with the raylm-chat-v1 template (dataprep.tokenizer.template)
before every answer: the prompt is the whole conversation so far, ending in <|assistant|>, prefilled once; the
answer stops at <|end|> (or <|endoftext|>). When the conversation outgrows the model's context, the oldest
turns are dropped (with a notice). Answers stream as they are generated, decoded incrementally: the UTF-8 bytes
of a character split over byte-fallback pieces are held back until the character is complete.
"""

from __future__ import annotations

import codecs
import signal
import sys
from dataclasses import dataclass
from typing import Optional, TextIO

import torch

from dataprep.tokenizer.template import ChatIds, generation_prompt
from training.generate import KVCache, Sampling, generate

HELP = "/clear empties the conversation, /system TEXT sets the system message, /regen redoes the last answer, /exit"
SPACE = "\u2581"  # sentencepiece's word-boundary mark


class StreamDecoder:
    """Token ids to text as soon as it is printable; never a replacement character.

    Each piece becomes its bytes (a byte-fallback piece <0xNN> is one byte), fed to an incremental UTF-8 decoder
    that keeps an incomplete character's bytes until the rest arrive; bytes that can never form a character are
    dropped. The first piece's leading space is sentencepiece's dummy prefix, which decode() removes too.
    """

    def __init__(self, sp):
        self.sp = sp
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self.started = False

    def piece_bytes(self, token: int) -> bytes:
        sp = self.sp
        if sp.is_byte(token):
            return bytes([int(sp.id_to_piece(token)[3:5], 16)])
        if sp.is_control(token):
            return b""
        if sp.is_unknown(token):
            return " \u2047 ".encode()
        return sp.id_to_piece(token).replace(SPACE, " ").encode()

    def push(self, token: int) -> str:
        return self._text(self.utf8.decode(self.piece_bytes(token)))

    def flush(self) -> str:
        return self._text(self.utf8.decode(b"", final=True))

    def _text(self, text: str) -> str:
        if not self.started and text:
            self.started = True
            if text.startswith(" "):
                text = text[1:]
        return text


@dataclass
class ChatOptions:
    system: Optional[str] = None
    sampling: Sampling = Sampling()
    max_new_tokens: int = 256


class Chat:
    """One conversation with a model: messages in, streamed answers out."""

    def __init__(self, model, tokenizer, options: ChatOptions, out: Optional[TextIO] = None,
                 notices: Optional[TextIO] = None):
        self.model, self.tokenizer, self.options = model, tokenizer, options
        self.out, self.notices = out or sys.stdout, notices or sys.stderr  # answers; notices (never in --prompt's stdout)
        self.prefix = ""  # written before each answer ("assistant> " in the interactive loop)
        self.ids = ChatIds.of(tokenizer)
        self.system = options.system
        self.messages: list[dict] = []
        self.context = int(model.cfg.max_seq_len)
        self.cache = KVCache.for_model(model)
        self.generator = torch.Generator(device="cpu")
        if options.sampling.seed is not None:
            self.generator.manual_seed(options.sampling.seed)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.sp.encode(text)

    def conversation(self) -> list[dict]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.messages

    def prompt(self) -> Optional[list[int]]:
        """The rendered conversation, its oldest turns dropped until it leaves room for an answer."""
        room = min(self.options.max_new_tokens, self.context // 2)
        dropped = 0
        while True:
            ids = generation_prompt(self.conversation(), self.encode, self.ids)
            if len(ids) + room <= self.context:
                break
            if len(self.messages) > 1:
                # Whole exchanges go: a user turn with the answer that followed it.
                cut = 2 if len(self.messages) > 2 and self.messages[1]["role"] == "assistant" else 1
                del self.messages[:cut]
                dropped += cut
                continue
            print(f"[the message is too long for the model's {self.context}-token context; shorten it]",
                  file=self.notices, flush=True)
            self.messages.clear()
            return None
        if dropped:
            print(f"[context: dropped the {dropped} oldest message(s) to fit the model's {self.context}-token context]",
                  file=self.notices, flush=True)
        return ids

    def answer(self, text: Optional[str] = None) -> str:
        """Add the user's `text` (None: answer the conversation as it is) and stream the answer. Ctrl+C stops the
        answer; what was said so far stays in the conversation."""
        if text is not None:
            self.messages.append({"role": "user", "content": text})
        ids = self.prompt()
        if ids is None:
            return ""
        decoder = StreamDecoder(self.tokenizer.sp)
        self.out.write(self.prefix)
        self.out.flush()
        parts: list[str] = []
        stopped = False
        try:
            for token in generate(self.model, ids, self.options.max_new_tokens, self.options.sampling,
                                  stop=(self.ids.end, self.ids.eos), cache=self.cache, generator=self.generator):
                piece = decoder.push(token)
                if piece:
                    parts.append(piece)
                    self.out.write(piece)
                    self.out.flush()
        except KeyboardInterrupt:
            stopped = True
        tail = decoder.flush()
        parts.append(tail)
        self.out.write(tail + "\n")
        self.out.flush()
        if stopped:
            print("[stopped]", file=self.notices, flush=True)
        answer = "".join(parts)
        self.messages.append({"role": "assistant", "content": answer})
        return answer

    def regenerate(self) -> Optional[str]:
        if not self.messages or self.messages[-1]["role"] != "assistant":
            print("[nothing to regenerate]", file=self.notices, flush=True)
            return None
        self.messages.pop()
        return self.answer(None)

    def command(self, line: str) -> bool:
        """Run a /command; False means exit."""
        name, _, arg = line.strip().partition(" ")
        if name == "/exit":
            return False
        if name == "/clear":
            self.messages.clear()
            print("[conversation cleared]", file=self.notices, flush=True)
        elif name == "/system":
            self.system = arg.strip() or None
            print(f"[system message {'set' if self.system else 'removed'}]", file=self.notices, flush=True)
        elif name == "/regen":
            self.regenerate()
        else:
            print(f"[unknown command {name}; {HELP}]", file=self.notices, flush=True)
        return True


class _PromptInterrupts:
    """SIGINT while reading a line: notes whether text was typed (readline's buffer, read before readline clears
    it on the way out), then raises KeyboardInterrupt as Python's default handler does."""

    def __init__(self):
        try:
            import readline  # line editing and history for input()

            self.readline = readline
        except ImportError:
            self.readline = None
        self.typed = False

    def __call__(self, signum, frame):
        self.typed = bool(self.readline and self.readline.get_line_buffer())
        raise KeyboardInterrupt

    def read(self, prompt: str) -> str:
        self.typed = False
        return input(prompt)


def interactive(chat: Chat, banner: str) -> int:
    """The read-answer loop. Ctrl+C at an empty prompt, Ctrl+D or /exit end it with 0; Ctrl+C on a typed line
    discards the line, like a shell; Ctrl+C during an answer stops it (Chat.answer)."""
    prompt = _PromptInterrupts()
    previous = signal.signal(signal.SIGINT, prompt)
    try:
        print(banner, file=chat.notices, flush=True)
        chat.prefix = "assistant> "
        return _loop(chat, prompt)
    finally:
        signal.signal(signal.SIGINT, previous)


def _loop(chat: Chat, prompt: _PromptInterrupts) -> int:
    while True:
        try:
            line = prompt.read("you> ")
        except EOFError:
            print(file=chat.out)
            return 0
        except KeyboardInterrupt:
            print(file=chat.out)
            if prompt.typed:
                continue
            return 0
        if not line.strip():
            continue
        if line.startswith("/"):
            if not chat.command(line):
                return 0
            continue
        chat.answer(line)
