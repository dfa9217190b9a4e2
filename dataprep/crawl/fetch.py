"""One HTTP GET, politely and safely: no redirects followed blindly, guarded addresses, capped decoded bodies.

- The address guard runs where the connection is made: the host is resolved once, every address it resolves to
  must be public (or the host must be named in `--allow-domain`), and the socket connects to the address that was
  checked, so a DNS answer cannot change between the check and the connection.
- `max_bytes` caps the body after `Content-Encoding` is decoded (urllib3 decodes in bounded steps), so a
  decompression bomb costs at most `max_bytes` of memory; a longer body is cut and marked truncated.
- Time limits: connect and read (per socket operation) time-outs, and a total time limit for the whole response,
  so a server dripping one byte at a time cannot hold a fetcher forever.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from socket import timeout as SocketTimeout
from typing import Callable, Optional
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError
from urllib3.util import connection as u3connection
from urllib3.util.request import ACCEPT_ENCODING

from dataprep.crawl.urls import normalize_url, origin, split_host

READ_CHUNK = 64 * 1024


class Refused(Exception):
    """The request was not sent: `reason` is the counted reason (private_address, dns_error)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason


def is_public_address(ip: str) -> bool:
    """Global unicast only: refuses private, loopback, link-local, CGNAT, multicast, reserved, unspecified."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


def vetted_address(host: str, port: int, allow_private: bool) -> str:
    """Resolve `host` once and return an address to connect to; every address must pass the guard."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused("dns_error", f"cannot resolve {host}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise Refused("dns_error", f"{host} has no address")
    if not allow_private:
        bad = [a for a in addresses if not is_public_address(a)]
        if bad:
            raise Refused("private_address", f"{host} resolves to non-public address {bad[0]}")
    return addresses[0]


class _GuardedMixin:
    allow_private: bool = False

    def _new_conn(self) -> socket.socket:
        ip = vetted_address(self._dns_host, self.port, self.allow_private)
        try:
            return u3connection.create_connection(
                (ip, self.port), self.timeout, source_address=self.source_address, socket_options=self.socket_options
            )
        except SocketTimeout as exc:
            raise ConnectTimeoutError(self, f"connect to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"cannot connect to {self.host}: {exc}") from exc


class GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    pass


class _PrivateHTTPConnection(GuardedHTTPConnection):
    allow_private = True


class _PrivateHTTPSConnection(GuardedHTTPSConnection):
    allow_private = True


def _pool_class(scheme: str, allow_private: bool):
    base = HTTPSConnectionPool if scheme == "https" else HTTPConnectionPool
    if scheme == "https":
        conn = _PrivateHTTPSConnection if allow_private else GuardedHTTPSConnection
    else:
        conn = _PrivateHTTPConnection if allow_private else GuardedHTTPConnection
    return type(f"Guarded{base.__name__}", (base,), {"ConnectionCls": conn})


@dataclass
class FetchOutcome:
    """One request and what came back (or why nothing did)."""

    url: str
    started: float
    ended: float = 0.0
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    status: Optional[int] = None
    reason_phrase: str = ""
    http_version: str = "HTTP/1.1"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False
    error: Optional[str] = None  # timeout, connection_error, dns_error, private_address
    detail: str = ""
    ip: Optional[str] = None

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class HttpClient:
    """GETs with one connection pool per origin (keep-alive), urllib3's retries and redirects switched off."""

    def __init__(self, user_agent: str, max_bytes: int, connect_timeout: float, read_timeout: float,
                 total_timeout: float, may_be_private: Callable[[str], bool]):
        self.user_agent = user_agent
        self.max_bytes = max_bytes
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.total_timeout = total_timeout
        self.may_be_private = may_be_private
        self._pools: dict[str, HTTPConnectionPool] = {}

    def _pool(self, url: str) -> HTTPConnectionPool:
        key = origin(url)
        pool = self._pools.get(key)
        if pool is None:
            scheme, host, port = split_host(url)
            cls = _pool_class(scheme, self.may_be_private(host))
            pool = cls(host, port, maxsize=1, block=False, timeout=self.timeout, retries=False)
            self._pools[key] = pool
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def get(self, url: str, max_bytes: Optional[int] = None) -> FetchOutcome:
        limit = self.max_bytes if max_bytes is None else max_bytes
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        out = FetchOutcome(url=url, started=time.time())
        out.request_headers = [("Host", parts.netloc)] + list(headers.items())
        deadline = out.started + self.total_timeout
        resp = None
        try:
            resp = self._pool(url).urlopen(
                "GET", target, headers=headers, redirect=False, retries=False, preload_content=False,
                assert_same_host=False, timeout=self.timeout,
            )
            out.status, out.reason_phrase = resp.status, resp.reason or ""
            out.http_version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(resp.version, "HTTP/1.1")
            out.headers = list(resp.headers.iteritems())
            out.ip = _peer_ip(resp)
            out.body, out.truncated = _read_capped(resp, limit, deadline)
        except Refused as exc:
            out.error, out.detail = exc.reason, str(exc)
        except (ConnectTimeoutError, ReadTimeoutError, SocketTimeout, TimeoutError) as exc:
            out.error, out.detail = "timeout", str(exc)
        except (HTTPError, OSError) as exc:
            out.error, out.detail = "connection_error", f"{type(exc).__name__}: {exc}"
        finally:
            if resp is not None:
                if out.error is None and not out.truncated:
                    resp.release_conn()
                else:  # a body left unread or a broken stream: drop the connection
                    resp.close()
                    resp.release_conn()
        out.ended = time.time()
        if out.error is not None:
            out.status, out.headers, out.body, out.truncated = None, [], b"", False
        return out


class _TotalTimeout(TimeoutError):
    pass


def _read_capped(resp, limit: int, deadline: float) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        if time.time() > deadline:
            raise _TotalTimeout("response took longer than the total time limit")
        chunk = resp.read(READ_CHUNK, decode_content=True)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True


def _peer_ip(resp) -> Optional[str]:
    try:
        return resp.connection.sock.getpeername()[0]
    except (AttributeError, OSError, TypeError):
        return None


def redirect_target(outcome: FetchOutcome) -> Optional[str]:
    """The normalized Location of a 3xx answer, or None."""
    if outcome.status is None or not 300 <= outcome.status < 400:
        return None
    location = outcome.header("location")
    return normalize_url(location, outcome.url) if location else None
