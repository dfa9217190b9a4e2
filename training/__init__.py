"""training: a GPT-style model trained from token shards with Ray Train."""

__version__ = "0.1.0"
