"""`dataprep stats`: a dataset's manifest summarised as JSON, a rich table, or histogram plots."""

from __future__ import annotations

from typing import Any

from dataprep.dataset.reader import Dataset
from dataprep.dataset.stats import Stats, bin_edges, histogram_percentiles

LENGTH_HISTOGRAMS = ("length_chars", "tokens_per_row")


def summarize(ds: Dataset) -> dict[str, Any]:
    """The JSON object `dataprep stats --json` prints (keys fixed by DESIGN.md)."""
    m = ds.manifest
    stats = Stats.from_json(m.stats)
    summary: dict[str, Any] = {
        "dataset": ds.url,
        "kind": m.kind,
        "schema_version": m.schema_version,
        "shards": len(m.shards),
        "rows": m.rows,
        "bytes": m.bytes,
        "tokens": m.tokens,
        "stages": [s.to_json() for s in stats.stages],
        "lang": dict(sorted(stats.lang.items(), key=lambda kv: (-kv[1], kv[0]))),
        "length": histogram_percentiles(stats.histograms.get("length_chars", {})),
    }
    if "tokens_per_row" in stats.histograms:
        summary["tokens_per_row"] = histogram_percentiles(stats.histograms["tokens_per_row"])
    if stats.counters:
        summary["counters"] = dict(sorted(stats.counters.items()))
    if stats.files:
        summary["files"] = stats.files
    if m.kind == "tokens":
        from dataprep.tokenizer.stats import token_summary

        summary.update(token_summary(stats.counters))  # masked_token_share, bytes_per_token by language
    # Stage-specific sections (dedup clusters, token ratios) live beside the generic keys in the manifest.
    for key, value in m.stats.items():
        if key not in ("stages", "lang", "counters", "histograms") and key not in summary:
            summary[key] = value
    return summary


def render(summary: dict[str, Any], console) -> None:
    from rich.table import Table

    head = Table(title=f"{summary['dataset']}  ({summary['kind']})", show_header=False)
    head.add_row("shards", f"{summary['shards']:,}")
    head.add_row("rows", f"{summary['rows']:,}")
    head.add_row("bytes", _human_bytes(summary["bytes"]))
    if summary.get("tokens") is not None:
        head.add_row("tokens", f"{summary['tokens']:,}")
    console.print(head)

    if summary["stages"]:
        stages = Table(title="stages")
        for col in ("stage", "rows in", "rows out", "dropped (reason: rows)"):
            stages.add_column(col, justify="right" if col.startswith("rows") else "left")
        for s in summary["stages"]:
            reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1]))
            stages.add_row(s["name"], f"{s['rows_in']:,}", f"{s['rows_out']:,}", reasons or "-")
        console.print(stages)

    if summary["lang"]:
        langs = Table(title="languages")
        langs.add_column("lang")
        langs.add_column("rows", justify="right")
        langs.add_column("share", justify="right")
        total = sum(summary["lang"].values()) or 1
        items = list(summary["lang"].items())
        for code, rows in items[:15]:
            langs.add_row(code, f"{rows:,}", f"{100 * rows / total:.1f}%")
        if len(items) > 15:
            rest = sum(v for _, v in items[15:])
            langs.add_row(f"({len(items) - 15} others)", f"{rest:,}", f"{100 * rest / total:.1f}%")
        console.print(langs)

    for key, title in (("length", "length in characters"), ("tokens_per_row", "tokens per row")):
        if summary.get(key):
            table = Table(title=f"{title} (percentiles)")
            for p in summary[key]:
                table.add_column(p, justify="right")
            table.add_row(*(f"{v:,.0f}" for v in summary[key].values()))
            console.print(table)

    if summary.get("files"):
        files = Table(title="skipped input files")
        for col in ("reason", "files", "names (first 100)"):
            files.add_column(col, justify="right" if col == "files" else "left")
        for reason, entry in summary["files"].items():
            files.add_row(reason, f"{entry['count']:,}", ", ".join(entry["names"]))
        console.print(files)

    if summary.get("bytes_per_token"):
        table = Table(title="bytes per token (UTF-8 bytes of text / its tokens)")
        table.add_column("lang")
        table.add_column("bytes per token", justify="right")
        for lang, value in summary["bytes_per_token"].items():
            table.add_row(lang, f"{value:.3f}")
        console.print(table)

    for key, title in (("dedup", "duplicate clusters"), ("clusters", "duplicate clusters")):
        if isinstance(summary.get(key), dict):
            _section(console, summary[key], title, sizes_title="cluster size")

    extra = {k: v for k, v in summary.items() if k not in _SHOWN}
    for key, value in extra.items():
        if isinstance(value, dict):
            _section(console, value, key.replace("_", " "))
        else:
            console.print(f"[bold]{key.replace('_', ' ')}[/bold]: {value}")


def _section(console, section: dict, title: str, sizes_title: str = "") -> None:
    """A stats section as a two-column table; a histogram inside it (`cluster_sizes`) as its own table."""
    from rich.table import Table

    table = Table(title=title, show_header=False)
    histograms = {}
    for key, value in section.items():
        if isinstance(value, dict):
            histograms[key] = value
        else:
            table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    console.print(table)
    for key, hist in histograms.items():
        sub = Table(title=f"{title}: {key.replace('_', ' ')}")
        sub.add_column(sizes_title or "key", justify="right")
        sub.add_column("count", justify="right")
        for k, v in hist.items():
            sub.add_row(str(k), f"{v:,}" if isinstance(v, int) else str(v))
        console.print(sub)


_SHOWN = {"dataset", "kind", "schema_version", "shards", "rows", "bytes", "tokens", "stages", "lang", "length",
          "tokens_per_row", "files", "bytes_per_token", "dedup", "clusters"}


def plot(ds: Dataset, path: str) -> bool:
    """Histograms of lengths (and tokens per row) plus the language distribution, as one PNG.

    Returns False (and writes nothing) when the dataset has neither: a clusters dataset, an empty one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = Stats.from_json(ds.manifest.stats)
    panels = [name for name in LENGTH_HISTOGRAMS if stats.histograms.get(name)]
    has_lang = bool(stats.lang)
    count = len(panels) + int(has_lang)
    if count == 0:
        return False
    fig, axes = plt.subplots(1, count, figsize=(6 * count, 4), squeeze=False)
    for ax, name in zip(axes[0], panels):
        hist = stats.histograms[name]
        keys = sorted(hist)
        lefts = [bin_edges(k)[0] for k in keys]
        widths = [bin_edges(k)[1] - bin_edges(k)[0] for k in keys]
        ax.bar(lefts, [hist[k] for k in keys], width=widths, align="edge")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel(name.replace("_", " "))
        ax.set_ylabel("rows")
        ax.set_title(name.replace("_", " "))
    if has_lang:
        ax = axes[0][-1]
        top = stats.lang.most_common(12)
        ax.barh([k for k, _ in top][::-1], [v for _, v in top][::-1])
        ax.set_xlabel("rows")
        ax.set_title("languages")
    fig.suptitle(f"{ds.url} ({ds.kind}, {ds.manifest.rows:,} rows)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{n:,} B"
        value /= 1024
    return f"{n} B"
