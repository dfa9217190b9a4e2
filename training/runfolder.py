"""A run folder at any fsspec URL: a local path, `s3://bucket/run`, `gs://...`.

Ray Train persists checkpoints into RUN/checkpoints through a pyarrow filesystem built from the same settings
as fsspec's (`FSSPEC_S3` JSON or fsspec's config, else the `AWS_*` variables), so a run on a cluster without a
shared file system works from its first checkpoint. Everything else (config.yaml, tokenizer.model, metrics,
events, TensorBoard) goes through fsspec: small files are written whole (atomically), and the files rank 0
appends to are kept in a local mirror and uploaded at each report (`Mirror`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from dataprep.dataset import storage
from dataprep.errors import UserError

# The settings that reach fsspec and pyarrow's S3 client; passed on to the training workers (see storage_env).
STORAGE_ENV_PREFIXES = ("FSSPEC_", "AWS_")


def normalize(url: str | Path) -> str:
    """Local paths absolute (Ray workers do not share the driver's working directory), URLs as given."""
    url = str(url)
    if "://" in url:
        return url.rstrip("/")
    return str(Path(url).expanduser().resolve())


class RunFolder:
    def __init__(self, url: str | Path):
        self.url = normalize(url)
        try:
            self.fs, self.path = storage.resolve(self.url)
        except (ValueError, ImportError) as exc:
            raise UserError(f"cannot open run folder {self.url}: {exc}") from None
        self.is_local = storage.is_local(self.fs)
        if not self.is_local:
            self.fs.invalidate_cache()  # fsspec shares clients and their listings; a run folder changes under us

    def __str__(self) -> str:
        return self.url

    def url_of(self, *parts: str) -> str:
        parts = tuple(p for p in parts if p)
        return "/".join([self.url, *parts]) if parts else self.url

    def fs_path(self, *parts: str) -> str:
        parts = tuple(p for p in parts if p)
        return storage.join(self.path, *parts) if parts else self.path

    # --- small files, read and written whole -------------------------------------------------------------
    def read_bytes(self, *parts: str) -> Optional[bytes]:
        try:
            return self.fs.cat_file(self.fs_path(*parts))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def read_text(self, *parts: str) -> Optional[str]:
        data = self.read_bytes(*parts)
        return None if data is None else data.decode("utf-8")

    def write_bytes(self, name: str, data: bytes) -> None:
        storage.atomic_write(self.fs, self.fs_path(name), data)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.fs_path(*parts))

    def listdir(self, *parts: str) -> dict[str, dict]:
        """Entries of a folder by base name ({} when it does not exist): fsspec's info dicts (type, size)."""
        try:
            entries = self.fs.ls(self.fs_path(*parts), detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        me = self.fs_path(*parts).rstrip("/")
        # An object store may list a folder's own marker object (pyarrow writes "folder/" keys): not an entry.
        return {e["name"].rstrip("/").rsplit("/", 1)[-1]: e for e in entries if e["name"].rstrip("/") != me}

    def download(self, remote: str, local: str | Path) -> None:
        """Copy RUN/remote (a file or a folder) to a local path."""
        src = self.fs_path(remote)
        if self.fs.isdir(src):
            Path(local).mkdir(parents=True, exist_ok=True)
            for name, entry in self.listdir(remote).items():
                self.download(f"{remote}/{name}" if remote else name, Path(local) / name)
        else:
            Path(local).parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(src, str(local))

    def upload(self, local: str | Path, remote: str) -> None:
        if self.is_local:
            dst = Path(self.fs_path(remote))
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.tmp")
            shutil.copyfile(local, tmp)
            os.replace(tmp, dst)
        else:
            self.fs.put_file(str(local), self.fs_path(remote))

    def move(self, src: str, dst: str) -> None:
        """Rename a file or folder inside the run folder. An object store has no folders: it copies each object
        under the prefix, then deletes them (its `mv` of a prefix looks for an object of that name)."""
        source, target = self.fs_path(src), self.fs_path(dst)
        if self.is_local:
            self.fs.mv(source, target, recursive=True)
            return
        for path in self.fs.find(source):
            self.fs.copy(path, target + path[len(source):])
        self.fs.rm(source, recursive=True)
        self.fs.invalidate_cache()

    # --- Ray Train's storage -----------------------------------------------------------------------------
    def ray_storage(self) -> tuple[Optional[object], str]:
        """(pyarrow filesystem or None, storage_path) for RunConfig: local paths as they are; s3:// through
        pyarrow's S3 client configured like fsspec's; other protocols through fsspec itself."""
        if self.is_local:
            return None, self.path
        import pyarrow.fs as pafs

        if urlsplit(self.url).scheme in ("s3", "s3a"):
            return pafs.S3FileSystem(**s3_options()), self.path
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs)), self.path


def s3_options() -> dict:
    """pyarrow S3FileSystem arguments from the settings fsspec's s3fs uses: fsspec's config (FSSPEC_S3 JSON, or
    set in-process), then the standard AWS_* variables. Nothing set: pyarrow's own chain (instance roles)."""
    import fsspec.config

    conf = dict(fsspec.config.conf.get("s3", {}))
    client = dict(conf.get("client_kwargs", {}))
    env = os.environ
    options: dict = {}
    key = conf.get("key") or env.get("AWS_ACCESS_KEY_ID")
    secret = conf.get("secret") or env.get("AWS_SECRET_ACCESS_KEY")
    token = conf.get("token") or env.get("AWS_SESSION_TOKEN")
    if key and secret:
        options.update(access_key=key, secret_key=secret)
        if token:
            options["session_token"] = token
    if conf.get("anon"):
        options["anonymous"] = True
    region = client.get("region_name") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    endpoint = (client.get("endpoint_url") or conf.get("endpoint_url") or env.get("AWS_ENDPOINT_URL_S3")
                or env.get("AWS_ENDPOINT_URL"))
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options.update(endpoint_override=parts.netloc, scheme=parts.scheme)
    return options


def storage_env() -> dict[str, str]:
    """The object-store settings of this process, for the training workers' environment: FSSPEC_* and AWS_*
    variables, plus fsspec's in-process s3 config as FSSPEC_S3. (A cluster whose nodes have their own
    credentials, an instance role for example, needs none of them: leave them unset on the driver.)"""
    import fsspec.config

    env = {k: v for k, v in os.environ.items() if k.startswith(STORAGE_ENV_PREFIXES)}
    if "FSSPEC_S3" not in env and fsspec.config.conf.get("s3"):
        env["FSSPEC_S3"] = json.dumps(fsspec.config.conf["s3"])
    return env


def apply_storage_env(env: dict[str, str]) -> None:
    """In a worker: take the driver's object-store settings (storage_env) before any client is made. fsspec reads
    FSSPEC_* variables when it is imported, so its config is refreshed from them here."""
    if not env:
        return
    import fsspec.config

    os.environ.update(env)
    fsspec.config.set_conf_env(fsspec.config.conf, env)
    for cls in _s3_classes():
        cls.clear_instance_cache()  # a client made before now would keep the old settings


def _s3_classes():
    try:
        from s3fs import S3FileSystem
    except ImportError:
        return []
    return [S3FileSystem]


class Mirror:
    """Files one rank appends to (metrics.jsonl, events.jsonl, TensorBoard, window logs): written in a local
    folder and uploaded to the run folder by `push` (at each report and at the end). For a local run folder the
    mirror is the run folder itself and `push` does nothing."""

    def __init__(self, run: RunFolder, pull: tuple[str, ...] = ()):
        self.run = run
        self._pushed: dict[str, tuple[int, int]] = {}
        if run.is_local:
            self.dir = Path(run.path)
            self.dir.mkdir(parents=True, exist_ok=True)
            return
        tag = hashlib.sha256(run.url.encode()).hexdigest()[:12]
        self.dir = Path(tempfile.mkdtemp(prefix=f"raylm-run-{tag}-"))
        for name in pull:  # a resumed run continues the files it already has
            data = run.read_bytes(name)
            if data is not None:
                (self.dir / name).parent.mkdir(parents=True, exist_ok=True)
                (self.dir / name).write_bytes(data)

    def push(self) -> None:
        if self.run.is_local:
            return
        for path in sorted(p for p in self.dir.rglob("*") if p.is_file()):
            rel = path.relative_to(self.dir).as_posix()
            stat = path.stat()
            sig = (stat.st_size, stat.st_mtime_ns)
            if self._pushed.get(rel) != sig:
                self.run.upload(path, rel)
                self._pushed[rel] = sig

    def close(self) -> None:
        self.push()
        if not self.run.is_local:
            shutil.rmtree(self.dir, ignore_errors=True)
