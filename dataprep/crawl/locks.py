"""Exclusive file locks (flock) that wait a while: the actors of a killed driver take a moment to be stopped."""

from __future__ import annotations

import fcntl
import time


def wait_for_lock(f, wait_s: float) -> bool:
    """Lock the open file `f` exclusively, waiting up to `wait_s` seconds; False when still held by another."""
    deadline = time.time() + wait_s
    while True:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.time() > deadline:
                return False
            time.sleep(0.05)
