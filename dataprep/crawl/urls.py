"""URL normalization and the crawl's URL policy, decided from the URL alone (before any DNS lookup).

Policy (documented in the README):
- only `http` and `https` URLs with a host are fetched (`bad_scheme` / `bad_url` otherwise);
- the hosts of the seeds are allowed (that exact host, any scheme and port), so a crawl without `--allow-domain`
  stays on its seed sites; each `--allow-domain D` allows D and its subdomains (an IP literal: that address only);
- only hosts matched by an explicit `--allow-domain` entry may resolve to private, loopback or link-local addresses:
  seeds and links never grant that (a seeds file or a hostile page cannot steer the crawler into a private network).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Optional
from urllib.parse import urldefrag, urljoin, urlsplit

from url_normalize import url_normalize

FETCHABLE_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str, base: Optional[str] = None) -> Optional[str]:
    """RFC 3986 normalization (lowercase scheme and host, default port, dot segments, percent-encoding), without
    the fragment; relative URLs are resolved against `base`. None when the text is not a URL."""
    url = url.strip()
    if base is not None:
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    try:
        parts = urlsplit(url)
        if not parts.scheme:
            return None
        if parts.scheme.lower() in FETCHABLE_SCHEMES:
            if not parts.hostname:
                return None
            parts.port  # noqa: B018 - raises ValueError on a port out of range
        norm = url_normalize(url)
    except (ValueError, UnicodeError):
        return None
    return urldefrag(norm)[0] if norm else None


def split_host(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a normalized http(s) URL; the port is explicit even when it is the default."""
    parts = urlsplit(url)
    scheme = parts.scheme
    return scheme, parts.hostname or "", parts.port or DEFAULT_PORTS.get(scheme, 0)


def origin(url: str) -> str:
    """The politeness key: scheme + host + port (robots.txt is per origin too, RFC 9309)."""
    scheme, host, port = split_host(url)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def robots_url(origin_key: str) -> str:
    scheme, rest = origin_key.split("://", 1)
    host, port = rest.rsplit(":", 1)
    if DEFAULT_PORTS.get(scheme) == int(port):
        return f"{scheme}://{host}/robots.txt"
    return f"{origin_key}/robots.txt"


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def normalize_domain(entry: str) -> str:
    """An `--allow-domain` entry as a host name: lowercase, IDNA, no trailing dot. ValueError when it is not one."""
    text = entry.strip().lower().rstrip(".")
    if not text or "/" in text or "@" in text or " " in text:
        raise ValueError(f"--allow-domain takes a host name or IP address like example.com, not {entry!r}")
    if is_ip_literal(text):
        return str(ipaddress.ip_address(text.strip("[]")))
    if ":" in text:
        raise ValueError(f"--allow-domain takes a host name without a port, not {entry!r}")
    host = urlsplit(url_normalize(f"http://{text}/")).hostname
    if not host:
        raise ValueError(f"--allow-domain takes a host name like example.com, not {entry!r}")
    return host


def _matches(host: str, entry: str) -> bool:
    if host == entry:
        return True
    return not is_ip_literal(entry) and host.endswith("." + entry)


@dataclass(frozen=True)
class UrlPolicy:
    """Which normalized URLs the crawl may fetch; checked from the URL text alone."""

    allow_domains: tuple[str, ...] = ()
    seed_hosts: frozenset[str] = frozenset()

    @classmethod
    def build(cls, allow_domains: Iterable[str], seeds: Iterable[str]) -> "UrlPolicy":
        hosts = frozenset(split_host(s)[1] for s in seeds)
        return cls(tuple(normalize_domain(d) for d in allow_domains), hosts)

    def host_allowed(self, host: str) -> bool:
        host = _plain(host)
        return host in self.seed_hosts or any(_matches(host, d) for d in self.allow_domains)

    def may_be_private(self, host: str) -> bool:
        """Named in `--allow-domain`: the user vouches for it, so private addresses are accepted."""
        host = _plain(host)
        return any(_matches(host, d) for d in self.allow_domains)

    def check(self, url: str) -> Optional[str]:
        """None when the URL may be fetched, else the reason it is not."""
        parts = urlsplit(url)
        if parts.scheme not in FETCHABLE_SCHEMES:
            return "bad_scheme"
        if not parts.hostname:
            return "bad_url"
        return None if self.host_allowed(parts.hostname) else "off_allowlist"


def _plain(host: str) -> str:
    host = host.strip("[]").lower()
    return str(ipaddress.ip_address(host)) if is_ip_literal(host) else host
