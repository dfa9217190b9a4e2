"""The crawl's progress line."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def progress_line(p: dict, elapsed: float) -> str:
    rate = p["answered"] / elapsed if elapsed > 0 else 0.0
    return (f"crawl: {p['pages']:,} pages fetched ({p['answered']:,} answered, {rate:.1f}/s), "
            f"queue {p['queue']:,}, in flight {p['in_flight']}, hosts {p['hosts']:,}, "
            f"{human_bytes(p['bytes'])}, errors {p['errors']:,}")
