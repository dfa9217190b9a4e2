"""A test-only extractor that takes far longer than any time limit a test sets (resolved as module:function)."""

import time


def sleepy(html: str) -> str:
    time.sleep(120)
    return html
