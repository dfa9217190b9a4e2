"""Reserved special tokens. Their ids are fixed (0-7), so every model trained here agrees on them.

All but `<unk>` are sentencepiece *control* symbols: they are never produced from text (a user who types
"<|user|>" gets ordinary character pieces) and decode to the empty string, so only the chat template,
working on ids, can emit them.
"""

from __future__ import annotations

UNK = "<unk>"
BOS = "<|bos|>"
EOS = "<|endoftext|>"  # ends every document and every conversation
PAD = "<|pad|>"
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END = "<|end|>"  # end of one turn

SPECIAL_TOKENS = (UNK, BOS, EOS, PAD, SYSTEM, USER, ASSISTANT, END)
CONTROL_SYMBOLS = (SYSTEM, USER, ASSISTANT, END)  # passed to the trainer after unk/bos/eos/pad
ROLES = ("system", "user", "assistant")
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
CHAT_TOKENS = (SYSTEM, USER, ASSISTANT, END)

CHAT_TEMPLATE = {
    "name": "raylm-chat-v1",
    "format": "for each message: ROLE_TOKEN + encode(content) + <|end|>; after the last message: <|endoftext|>",
    "role_tokens": dict(ROLE_TOKENS),
    "end_of_turn": END,
    "end_of_text": EOS,
    "generation_prompt": "the rendered conversation without <|endoftext|>, followed by <|assistant|>; stop at <|end|>",
    "loss_mask": "1 on assistant content tokens and the <|end|> right after them; 0 elsewhere (role tokens, "
    "system/user turns, <|endoftext|>)",
    "content_encoding": "each message's content is encoded on its own, with sentencepiece's dummy-prefix space",
}
