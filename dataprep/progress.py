"""Progress for long commands: a live bar on a terminal, a plain line at most every 10 s otherwise.

Both show shards (work units) done, rows, MB/s and the time left. The reporter knows nothing of Ray: the
executor and the dedup driver call `advance` as results come back.
"""

from __future__ import annotations

import sys
import time
from typing import Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

PLAIN_INTERVAL_S = 10.0
_last_plain = [0.0]  # when any reporter last printed a plain line: the 10 s limit holds across a command's layers


def _rate(nbytes: float, seconds: float) -> str:
    return f"{nbytes / max(seconds, 1e-9) / 1e6:,.1f} MB/s"


class JobProgress:
    """`with JobProgress("ingest", total=12, total_bytes=...) as p: p.advance(rows=..., nbytes=...)`."""

    def __init__(self, label: str, total: int, total_bytes: Optional[int] = None, unit: str = "shards",
                 console: Optional[Console] = None, enabled: bool = True, final_line: bool = True):
        self.label, self.total, self.total_bytes, self.unit = label, total, total_bytes, unit
        self.console = console or Console(stderr=True, highlight=False)
        self.enabled = enabled
        self.live = enabled and self.console.is_terminal
        self.final_line = final_line
        self.done, self.rows, self.nbytes = 0, 0, 0
        self.start = time.monotonic()
        self._bar: Optional[Progress] = None
        self._task = None

    def __enter__(self) -> "JobProgress":
        self.start = time.monotonic()
        if self.live:
            columns = (TextColumn(f"{self.label}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
                       TextColumn("{task.fields[rows]:,} rows  {task.fields[rate]}"), TimeRemainingColumn())
            self._bar = Progress(*columns, console=self.console, transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, rows=0, rate="")
        return self

    def advance(self, units: int = 1, rows: int = 0, nbytes: int = 0) -> None:
        self.done += units
        self.rows += rows
        self.nbytes += nbytes
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rows=self.rows, rate=_rate(self.nbytes, now - self.start))
        elif self.enabled and now - max(_last_plain[0], self.start) >= PLAIN_INTERVAL_S:
            self._line(now)

    def _line(self, now: float) -> None:
        _last_plain[0] = now
        elapsed = now - self.start
        eta = ""
        if 0 < self.done < self.total:
            eta = f", about {elapsed / self.done * (self.total - self.done):,.0f} s left"
        volume = f", {self.rows:,} rows, {_rate(self.nbytes, elapsed)}" if self.rows or self.nbytes else ""
        self.console.print(f"{self.label}: {self.done}/{self.total} {self.unit}{volume}{eta}", markup=False,
                           soft_wrap=True)

    def __exit__(self, exc_type, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled and exc_type is None and self.final_line:
            self._line(time.monotonic())


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
