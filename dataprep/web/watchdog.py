"""Extraction in a child process with a per-page time limit, so a pathological page cannot hang a worker.

Extractors run C code (lxml, lexbor) that no signal or thread can interrupt: resiliparse's main-content pass is
quadratic in nesting depth (a page of 50,000 nested <div>s takes about a minute). So pages go to a long-lived
child process; past the limit the child is killed, the page counted as `extraction_timeout`, and a fresh
child takes the next page. One child per worker process serves every page (no process per page).

Start method: the parent is a Ray worker, which runs several threads (gRPC, the core worker). Forking a
multi-threaded process copies locks held by other threads and can deadlock the child, so children come from a
`forkserver`: a small single-threaded server started once per worker process that forks each child. Restarting
after a kill then costs a fork from a server that has already imported the extractors, not a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from dataclasses import dataclass
from typing import Optional

DEFAULT_TIMEOUT_S = 30.0  # trafilatura's own EXTRACTION_TIMEOUT; generous, so a busy machine does not drop pages
MAX_HTML_BYTES = 20_000_000  # trafilatura's MAX_FILE_SIZE: bigger "pages" are dumps, not articles

# imported once in the fork server, so neither the first page nor a replacement child pays for them
_PRELOAD = ["dataprep.web.extract", "dataprep.web.boilerplate", "trafilatura", "resiliparse.extract.html2text"]


@dataclass
class Outcome:
    text: Optional[str]
    reason: Optional[str] = None  # "extraction_timeout" or "extraction_error" when text is None


def _serve(conn) -> None:
    """Child loop: (extractor, html) in, ("ok", text) or ("error", message) out, until the pipe closes."""
    from dataprep.web.extract import extract_text

    while True:
        try:
            extractor, html = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", extract_text(html, extractor)))
        except Exception as exc:  # a page that breaks the extractor is one counted page, not a dead worker
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ExtractionWatchdog:
    """Runs `extract_text(html, extractor)` in a child process, killing and replacing it past `timeout_s`."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.timeout_s = float(timeout_s)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        self._process = None
        self._conn = None
        self._lock = threading.Lock()  # one page at a time per child; callers may share the watchdog
        self.started = 0  # children started: 1 + the number of replacements after a kill or a crash

    def extract(self, html: str, extractor: str) -> Outcome:
        with self._lock:
            self._ensure_child()
            try:
                self._conn.send((extractor, html))
                if not self._conn.poll(self.timeout_s):
                    self._kill()
                    return Outcome(None, "extraction_timeout")
                status, payload = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                self._kill()  # the child died (out of memory, a crash in C code): replace it
                return Outcome(None, "extraction_error")
        if status == "ok":
            return Outcome(payload)
        return Outcome(None, "extraction_error")

    def _ensure_child(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        if self._process is not None:
            self._kill()
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child,), daemon=True, name="dataprep-extract")
        process.start()
        child.close()
        self.started += 1
        self._process, self._conn = process, parent

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._process.close()
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def close(self) -> None:
        with self._lock:
            self._kill()

    def __enter__(self) -> "ExtractionWatchdog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: dict[tuple[int, float], ExtractionWatchdog] = {}
_shared_lock = threading.Lock()


def shared_watchdog(timeout_s: float = DEFAULT_TIMEOUT_S) -> ExtractionWatchdog:
    """One watchdog (one child) per worker process and time limit, reused by every unit the worker runs."""
    key = (os.getpid(), float(timeout_s))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = ExtractionWatchdog(timeout_s)
        return _shared[key]
