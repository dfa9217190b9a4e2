"""The one declaration of the crawler's parameters: name, default, range and help of each.

The CLI builds its options from these fields; `CrawlParams.build(**options)` turns any invalid value into a one-line
`UserError` naming the option, before Ray starts. The seeds file is read and checked here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from dataprep import __version__
from dataprep.crawl.robots import product_token
from dataprep.crawl.urls import FETCHABLE_SCHEMES, normalize_domain, normalize_url
from dataprep.errors import UserError
from dataprep.params import Params

MiB = 1024 * 1024
DEFAULT_USER_AGENT = f"raylm-crawler/{__version__} (+https://github.com/raylm/raylm)"


class CrawlParams(Params):
    model_config = ConfigDict(frozen=True)

    seeds: str = Field(description="File of seed URLs: one http(s) URL per line; blank lines and # comments skipped.",
                       json_schema_extra={"metavar": "FILE"})
    output: Optional[str] = Field(None, description="Crawl folder (local): OUT/warc WARC files, OUT/state crawl state, "
                                                    "OUT/docs documents.",
                                  json_schema_extra={"flags": ["-o", "--output"], "metavar": "OUT", "required_on_cli": True})
    max_pages: int = Field(1000, ge=1, le=10**9,
                           description="Stop after this many page requests are answered (any status; robots.txt not counted).")
    max_depth: int = Field(5, ge=0, le=10_000,
                           description="Follow links at most this many clicks from a seed (a redirect adds no depth).")
    allow_domain: list[str] = Field(
        default_factory=list, json_schema_extra={"metavar": "DOMAIN"},
        description="Also follow links to this domain and its subdomains (repeatable; seed hosts are always allowed). "
                    "Only hosts named here may resolve to private, loopback or link-local addresses.")
    rate_per_host: float = Field(1.0, gt=0, le=1000,
                                 description="Requests per second to one host (scheme+host+port), all fetchers together; "
                                             "a robots.txt Crawl-delay can only slow it down.")
    max_bytes: int = Field(1 * MiB, ge=1024, le=1024 * MiB,
                           description="Keep at most this many bytes of a body, counted after Content-Encoding is "
                                       "decoded; longer bodies are cut (WARC-Truncated: length).")
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1, max_length=512,
                            description="User-Agent: a product token (matched against robots.txt groups) and a contact URL.")
    fetchers: int = Field(4, ge=1, le=1024, description="Fetcher tasks (each has at most one request in flight).")
    connect_timeout: float = Field(10.0, gt=0, le=600, description="Seconds allowed to open a connection.")
    read_timeout: float = Field(30.0, gt=0, le=600, description="Seconds allowed between two reads of a response.")
    page_timeout: float = Field(120.0, gt=0, le=3600, description="Seconds allowed for a whole response.")
    retries: int = Field(2, ge=0, le=10,
                         description="Retries of a page after a time-out, a connection error, 429 or 5xx.")
    backoff: float = Field(2.0, ge=0, le=3600,
                           description="Seconds a host waits after a failure; doubles with each failure in a row.")
    max_retry_after: float = Field(600.0, ge=0, le=86_400,
                                   description="Longest Retry-After honoured (seconds); longer values are cut to this.")
    max_crawl_delay: float = Field(30.0, ge=0, le=86_400,
                                   description="Longest robots.txt Crawl-delay honoured; hosts asking more are skipped.")
    robots_retry: float = Field(300.0, ge=0, le=86_400,
                                description="Seconds before asking again for a robots.txt that answered 5xx (doubles each time).")
    robots_attempts: int = Field(3, ge=1, le=100,
                                 description="robots.txt tries before its host is given up (robots_unavailable).")
    max_redirects: int = Field(4, ge=0, le=20, description="Longest chain of redirects followed from one link.")
    warc_file_bytes: int = Field(100 * MiB, ge=64 * 1024, le=64 * 1024 * MiB,
                                 description="A WARC file is closed and a new one started past this size.")
    checkpoint_every: float = Field(30.0, gt=0, le=86_400,
                                    description="Seconds between saves of the frontier to OUT/state.")
    progress_every: float = Field(10.0, gt=0, le=86_400,
                                  description="Seconds between progress lines when stdout is not a terminal.")
    documents: bool = Field(True, description="Build OUT/docs, a documents dataset, from the WARC files at the end.",
                            json_schema_extra={"flags": ["--docs"]})

    _seed_urls: list[str] = PrivateAttr(default_factory=list)

    @field_validator("allow_domain")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return sorted(set(normalize_domain(d) for d in value))

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str) -> str:
        product_token(value)
        if not any(mark in value for mark in ("http://", "https://", "@")):
            raise ValueError("must name a contact URL (or e-mail) so site owners can reach you, "
                             f"e.g. 'mybot/1.0 (+https://example.org/bot)', not {value!r}")
        return value

    @field_validator("output")
    @classmethod
    def _output(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None  # a pipeline fills it in (OUTPUT/NN-crawl)
        if "://" in value and not value.startswith("file://"):
            raise ValueError(f"must be a local folder (WARC files are renamed into place), not {value!r}")
        return value.removeprefix("file://")

    @model_validator(mode="after")
    def _read_seeds(self) -> "CrawlParams":
        self._seed_urls = read_seeds(self.seeds)
        return self

    @property
    def seed_urls(self) -> list[str]:
        return list(self._seed_urls)

    @property
    def out(self) -> Path:
        return Path(self.output)

    @classmethod
    def build(cls, **options: Any) -> "CrawlParams":
        """Options that are None take the declared default; an invalid value becomes one UserError line."""
        given = {k: v for k, v in options.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else ""
            msg = err["msg"].removeprefix("Value error, ")
            flag = {"output": "-o/--output"}.get(name, "--" + name.replace("_", "-"))
            raise UserError(f"{flag}: {msg}") from None


def read_seeds(path: str) -> list[str]:
    """Normalized seed URLs in file order, each once; a missing, empty or malformed file is a UserError."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"seeds file {path} not found")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"seeds file {path} is not UTF-8 text (one URL per line)") from None
    seeds: dict[str, None] = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        url = normalize_url(text)
        if url is None or url.split(":", 1)[0] not in FETCHABLE_SCHEMES:
            raise UserError(f"seeds file {path} line {number}: {text[:200]!r} is not an http(s) URL")
        seeds[url] = None
    if not seeds:
        raise UserError(f"seeds file {path} has no URLs (one http(s) URL per line; # starts a comment)")
    return list(seeds)
