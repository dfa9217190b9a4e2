"""The crawl folder on disk, and how a crawl picks up where the last one stopped.

```
OUT/warc/                 finished WARC files (renamed into place when closed)
OUT/state/crawl.json      marks the folder as a crawl (and records the last parameters)
OUT/state/frontier.json   the frontier: every URL seen with its depth and status, counters (saved periodically)
OUT/state/hosts.jsonl     robots.txt answers and host blocks, appended as they happen
OUT/state/warc-open/      WARC files being written
OUT/state/stats.json      the crawl stage: URLs considered, pages fetched, dropped by reason, bytes, per host
OUT/state/lock            held by the running crawl
```

Resume: load frontier.json, apply hosts.jsonl, salvage open WARC files, then replay every closed WARC file that
frontier.json does not list yet (the WARC files are the log between two saves), so no page whose answer is in a
closed WARC file is requested again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from dataprep.crawl.jobs import summarize
from dataprep.crawl.locks import wait_for_lock
from dataprep.crawl.warc import SUFFIX, read_responses, salvage
from dataprep.errors import UserError


class CrawlStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.warc_dir = self.root / "warc"
        self.state_dir = self.root / "state"
        self.open_dir = self.state_dir / "warc-open"
        self._lock_file = None

    def check(self) -> bool:
        """Refuse a folder that is neither new, empty, nor an earlier crawl's (before any work). True: resuming."""
        resuming = (self.state_dir / "crawl.json").is_file()
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"-o {self.root} is a file, not a folder")
        if not resuming and self.root.is_dir() and any(self.root.iterdir()):
            raise UserError(f"-o {self.root} is not empty and is not a crawl folder (no state/crawl.json): "
                            "choose a new folder")
        return resuming

    def prepare(self, params_json: dict) -> bool:
        """Create the folder, or accept an earlier crawl's. Returns True when resuming."""
        marker = self.state_dir / "crawl.json"
        resuming = self.check()
        for d in (self.warc_dir, self.state_dir, self.open_dir):
            d.mkdir(parents=True, exist_ok=True)
        write_json_atomic(marker, {"kind": "crawl", "params": params_json})
        return resuming

    def lock(self, wait_s: float = 30.0) -> None:
        """One crawl per folder; waits a little for the actors of a killed driver to be stopped."""
        f = open(self.state_dir / "lock", "a+")
        if not wait_for_lock(f, wait_s):
            f.close()
            raise UserError(f"another crawl is running in {self.root} (state/lock is held)")
        self._lock_file = f

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def load_frontier(self) -> Optional[dict]:
        path = self.state_dir / "frontier.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save_frontier(self, snapshot: dict) -> None:
        write_json_atomic(self.state_dir / "frontier.json", snapshot)

    def append_events(self, events: list[dict]) -> None:
        with open(self.state_dir / "hosts.jsonl", "a", encoding="utf-8") as f:
            for event in events:
                f.write(json.dumps(event, ensure_ascii=False) + "\n")
            f.flush()

    def load_events(self) -> list[dict]:
        path = self.state_dir / "hosts.jsonl"
        if not path.is_file():
            return []
        events = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: the event is redone
                break
        return events

    def write_stats(self, stats: dict) -> None:
        write_json_atomic(self.state_dir / "stats.json", stats)

    def closed_warcs(self) -> list[str]:
        return sorted(p.name for p in self.warc_dir.glob(f"*{SUFFIX}"))


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def open_frontier(params, store: CrawlStore):
    """A frontier holding everything the folder knows: last save, host events, and the WARC files since."""
    from dataprep.crawl.frontier import Frontier

    frontier = Frontier(params)
    saved = store.load_frontier()
    if saved is not None:
        frontier.restore(saved)
    for event in store.load_events():
        frontier.host_event(event, record=False)
    frontier.add_seeds(params.seed_urls)
    salvage(store.open_dir, store.warc_dir)
    unseen = [name for name in store.closed_warcs() if name not in frontier.warcs]
    results = (summarize(r.url, r.status, None, r.header, r.body, r.truncated)
               for name in unseen for r in read_responses(store.warc_dir / name))
    frontier.replay(results)
    frontier.warcs.update(unseen)
    store.save_frontier(frontier.snapshot())
    return frontier
