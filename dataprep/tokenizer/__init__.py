"""The tokenizer: sentencepiece training on a bounded sample, the chat template, and batch encoding (no Ray here)."""
