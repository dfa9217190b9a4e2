"""Real HTTP servers on loopback addresses that log every request they receive (path, times, headers)."""

from __future__ import annotations

import base64
import gzip
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Route = Callable[["Handler", int], None]  # (handler, how many times this path was asked before)


@dataclass
class Hit:
    path: str
    start: float
    end: float
    status: int
    user_agent: str


class LoggedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, routes: dict[str, Route]):
        super().__init__((host, 0), Handler)
        self.host = host
        self.routes = routes
        self.hits: list[Hit] = []
        self.seen: Counter = Counter()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.server_address[1]}"

    def start(self) -> "LoggedServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
            self.seen.clear()

    def paths(self) -> list[str]:
        with self.lock:
            return [h.path for h in self.hits]


class Handler(BaseHTTPRequestHandler):
    server: LoggedServer

    def do_GET(self):  # noqa: N802 - http.server's naming
        start = time.monotonic()
        with self.server.lock:
            before = self.server.seen[self.path]
            self.server.seen[self.path] += 1
            hit = Hit(self.path, start, float("inf"), 0, self.headers.get("User-Agent", ""))
            self.server.hits.append(hit)  # logged on arrival: a request the crawler gave up on still counts
        self.status = 0
        route = self.server.routes.get(self.path, not_found)
        try:
            route(self, before)
        except (BrokenPipeError, ConnectionResetError):  # the crawler hung up (truncated body, time-out)
            pass
        hit.end, hit.status = time.monotonic(), self.status

    def send(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8", headers=()):
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


_SPEECHES = [b.strip() for b in (Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare_head.txt")
             .read_text(encoding="utf-8").split("\n\n") if len(b) > 200]


def html(*links: str, title: str = "page", text: str = "") -> bytes:
    """A page: its article (real text, so extraction keeps it) and its links."""
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    article = "".join(f"<p>{line}</p>" for line in text.splitlines())
    return (f"<!doctype html><html><head><title>{title}</title></head><body><article>{article}</article>"
            f"<nav><ul>{anchors}</ul></nav></body></html>").encode()


def page(*links: str) -> Route:
    """A page whose article is a real speech (Shakespeare), chosen by its links so every page has its own."""
    text = _SPEECHES[sum(map(ord, "".join(links))) % len(_SPEECHES)]
    body = html(*links, text=text)
    return lambda h, n: h.send(200, body)


def text(body: str, ctype: str = "text/plain") -> Route:
    return lambda h, n: h.send(200, body.encode(), ctype)


def redirect(location: str, status: int = 302) -> Route:
    return lambda h, n: h.send(status, b"", headers=[("Location", location)])


def not_found(h: Handler, n: int) -> None:
    h.send(404, b"not found", "text/plain")


def slow(seconds: float) -> Route:
    def route(h: Handler, n: int) -> None:
        time.sleep(seconds)
        h.send(200, html())
    return route


def big_body(size: int) -> bytes:
    """An HTML page of about `size` bytes that gzip cannot shrink much (seeded random base64 text)."""
    noise = base64.b64encode(random.Random(0).randbytes(size * 3 // 4))
    return b"<html><body><p>" + noise + b"</p></body></html>"


def big(size: int) -> Route:
    body = big_body(size)
    return lambda h, n: h.send(200, body)


def gzip_bomb(decoded_size: int) -> Route:
    body = gzip.compress(b"<html><body>" + b"\0" * decoded_size, compresslevel=9)
    return lambda h, n: h.send(200, body, headers=[("Content-Encoding", "gzip")])


def fails_first(status: int, headers=()) -> Route:
    """Answers `status` the first time, then a page."""
    def route(h: Handler, n: int) -> None:
        if n == 0:
            h.send(status, b"try again", "text/plain", headers)
        else:
            h.send(200, html())
    return route
