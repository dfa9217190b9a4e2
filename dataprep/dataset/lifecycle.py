"""One lifecycle for every output a job writes: check, begin, write shards, commit (or leave it unfinished).

- check (before any work, before Ray): the output is not equal to, inside or containing an input dataset, nor
  another output of the same job; an existing folder must be empty or one of ours (a dataset or an unfinished
  job's leftovers), never a user's folder; no other live job holds it.
- begin: take the lease (`.lease.json`: job key, host, pid, heartbeat) and withdraw an existing manifest, so
  a crash mid-way leaves an unfinished folder, never old metadata over new shards.
- commit: remove our files the new manifest does not list (shards and receipts of an earlier run with other
  parameters, temporary files), write `manifest.json` atomically, release the lease. The folder then holds
  exactly what a clean run writes.

Object stores have no atomic create-if-absent through fsspec, so there the lease is best effort (written, then
read back); on local and shared file systems it is reliable for jobs on one host, and across hosts through
the heartbeat.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from dataprep.dataset import storage
from dataprep.dataset.location import display, relation
from dataprep.dataset.manifest import MANIFEST_NAME, Manifest
from dataprep.errors import UserError

LEASE_NAME = ".lease.json"
LEASE_TTL_S = 180.0  # a lease from another host not refreshed for this long belongs to a dead job
HEARTBEAT_S = 30.0
# Everything a dataset job ever writes in its folder; anything else belongs to the user.
OURS = re.compile(r"^(manifest\.json|\.lease\.json|shards/part-\d{5}\.arrow(\.done\.json)?|(.*/)?\.[^/]+\.tmp)$")


@dataclass
class Lease:
    """Who is writing a folder right now."""

    url: str
    job_key: str = ""
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    def _path(self):
        fs, root = storage.resolve(self.url)
        return fs, storage.join(root, LEASE_NAME)

    def holder(self) -> Optional[dict]:
        """The live lease of another job, or None (none, ours, or stale)."""
        fs, path = self._path()
        try:
            data = json.loads(fs.cat_file(path))
        except (FileNotFoundError, OSError, ValueError):
            return None
        if data.get("host") == self.host and data.get("pid") == self.pid:
            return None
        if data.get("host") == socket.gethostname():
            return data if _pid_alive(int(data.get("pid", -1))) else None
        return data if time.time() - float(data.get("heartbeat", 0)) < LEASE_TTL_S else None

    def refuse_if_held(self) -> None:
        held = self.holder()
        if held is not None:
            raise UserError(
                f"{display(self.url)} is being written by another job (pid {held.get('pid')} on {held.get('host')}); "
                f"wait for it to finish, or delete {LEASE_NAME} there if that job is gone"
            )

    def acquire(self) -> None:
        self.refuse_if_held()
        self._write()

    def _write(self) -> None:
        fs, path = self._path()
        if storage.is_local(fs):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        record = {"job_key": self.job_key, "host": self.host, "pid": self.pid, "heartbeat": time.time()}
        storage.atomic_write(fs, path, json.dumps(record).encode())

    def release(self) -> None:
        fs, path = self._path()
        try:
            data = json.loads(fs.cat_file(path))
        except (FileNotFoundError, OSError, ValueError):
            return
        if data.get("pid") == self.pid and data.get("host") == self.host:
            fs.rm(path)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Heartbeat(threading.Thread):
    def __init__(self, lease: Lease):
        super().__init__(daemon=True, name="lease-heartbeat")
        self.lease = lease
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            try:
                self.lease._write()
            except OSError:
                pass  # the next beat retries; a missed one only makes the lease look older


def listing(url: str) -> list[str]:
    """Every file under a folder, as paths relative to it ([] when it does not exist)."""
    fs, root = storage.resolve(url)
    try:
        if not fs.isdir(root):
            return [] if not fs.exists(root) else [os.path.basename(root)]
        found = fs.find(root, withdirs=False)
    except FileNotFoundError:
        return []
    prefix = root.rstrip("/") + "/"
    return sorted(p[len(prefix):] if p.startswith(prefix) else p for p in found)


class OutputTarget:
    """A dataset folder a job writes. `flag` is how the user named it (`-o`, `--keep-clusters`), for messages."""

    def __init__(self, url: str, flag: str = "-o", ours: re.Pattern = OURS):
        self.url = str(url)
        self.flag = flag
        self.ours = ours
        self.lease: Optional[Lease] = None
        self._heartbeat: Optional[_Heartbeat] = None

    def __getstate__(self) -> dict:
        # Jobs travel to Ray workers with their target; the lease and its heartbeat thread stay in the driver.
        return {**self.__dict__, "lease": None, "_heartbeat": None}

    # -- before any work -------------------------------------------------------------------------------
    def check(self, inputs: Sequence[str] = (), sources: Sequence[str] = (),
              others: Sequence["OutputTarget"] = ()) -> None:
        """Refuse what would destroy data: `inputs` are datasets read, `sources` raw files or folders read,
        `others` the job's other outputs."""
        out = display(self.url)
        for url in inputs:
            rel = relation(self.url, url)
            if rel == "equal":
                raise UserError(f"{self.flag} {out} is the input dataset; write to another folder")
            if rel in ("inside", "containing"):
                raise UserError(f"{self.flag} {out} is {rel} the input dataset {display(url)}; write to another folder")
        for url in sources:
            if relation(self.url, url) in ("equal", "containing"):
                raise UserError(f"{self.flag} {out} would hold the input {display(url)}; write to another folder")
        for other in others:
            rel = relation(self.url, other.url)
            if rel is not None:
                where = "the same folder as" if rel == "equal" else f"{rel}"
                raise UserError(f"{self.flag} {out} is {where} {other.flag} {display(other.url)}; give it a folder of its own")
        self.refuse_foreign()
        Lease(self.url).refuse_if_held()

    def refuse_foreign(self) -> None:
        """An existing folder must be empty or ours: a user's files are never overwritten."""
        files = listing(self.url)
        if not files or self._has_manifest():
            return
        foreign = [f for f in files if not self.ours.match(f)]
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UserError(f"{self.flag} {display(self.url)} is not empty and not a dataset of ours (it holds {shown}); "
                            "choose a new or empty folder")

    def _has_manifest(self) -> bool:
        fs, root = storage.resolve(self.url)
        try:
            Manifest.from_bytes(fs.cat_file(storage.join(root, MANIFEST_NAME)))
            return True
        except (FileNotFoundError, OSError, ValueError):
            return False

    # -- the job's life ------------------------------------------------------------------------------
    def begin(self, job_key: str) -> None:
        self.refuse_foreign()
        self.lease = Lease(self.url, job_key)
        self.lease.acquire()
        self._heartbeat = _Heartbeat(self.lease)
        self._heartbeat.start()
        fs, root = storage.resolve(self.url)
        manifest = storage.join(root, MANIFEST_NAME)
        if fs.exists(manifest):
            fs.rm(manifest)

    def commit(self, manifest: Manifest) -> Manifest:
        """Remove our files the manifest does not list, then write it: the folder equals a clean run's."""
        fs, root = storage.resolve(self.url)
        keep = {s.path for s in manifest.shards} | {s.path + ".done.json" for s in manifest.shards}
        keep |= {MANIFEST_NAME, LEASE_NAME}
        for name in listing(self.url):
            if name not in keep and self.ours.match(name):
                fs.rm(storage.join(root, name))
        storage.atomic_write(fs, storage.join(root, MANIFEST_NAME), manifest.to_bytes())
        self.release()
        return manifest

    def release(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stopped.set()
            self._heartbeat = None
        if self.lease is not None:
            self.lease.release()
            self.lease = None


def check_file_output(path: str, flag: str, is_ours: bool, overwrite: bool, inputs: Sequence[str] = ()) -> None:
    """A single file a command writes (a tokenizer model, an export): never inside an input dataset, and an
    existing file is replaced only when our tool wrote it or the user said `--overwrite`."""
    for url in inputs:
        if relation(path, url) in ("equal", "inside"):
            raise UserError(f"{flag} {display(path)} is inside the input dataset {display(url)}; write it elsewhere")
    fs, p = storage.resolve(path)
    if fs.exists(p) and not is_ours and not overwrite:
        raise UserError(f"{flag} {display(path)} exists and was not written by this tool; pass --overwrite to replace it")
