"""Rebuild the extracted-text fixtures of tests/filters from the shared corpora (run by hand, not by the tests).

    /work/main/.venv/bin/python tests/data/filters/make_fixtures.py [--corpora /work/shared/corpora]

Writes beside this file:
- zh_pages.jsonl      the 16 Chinese news/blog pages of html/zh: the longer of GNE's content and trafilatura's
                      extraction (each fails on some page: trafilatura returns nothing for readhub, GNE picks a
                      sidebar on people_1); `extractor` says which one. GNE runs in .venv-peers (not a project
                      dependency): `.venv-peers/bin/pip install gne`.
- en_pages.jsonl      the 21 English gold pages of html/en, extracted by trafilatura.
- cc_2020-34_pages.jsonl  every HTML response of warc/resiliparse_CC-MAIN-2020-34_sample.warc.gz, extracted by
                      trafilatura (spam labels: cc_2020-34_labels.tsv, written by hand before any threshold was set).
- classical_zh.jsonl  classical Chinese for language-ID calibration: Song ci, Tang poems (traditional), the Analects
                      and Guwen Guanzhi essays (traditional), one document per poem/chapter/essay.
trafilatura runs with FineWeb's settings (favor_precision, no comments, deduplicate).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def trafilatura_text(html: str, url: str | None = None) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url, favor_precision=True, include_comments=False, deduplicate=True) or ""


def gne_contents(paths: list[Path]) -> dict[str, dict]:
    """GNE's title and content per file, computed in the peers venv (GNE is not a project dependency)."""
    out = subprocess.run([str(PEERS_PYTHON), __file__, "--gne", *map(str, paths)], check=True,
                         capture_output=True, text=True).stdout
    return {row["file"]: row for row in map(json.loads, out.splitlines())}


def _gne_main(paths: list[str]) -> None:
    from gne import GeneralNewsExtractor

    extractor = GeneralNewsExtractor()
    for path in paths:
        result = extractor.extract(Path(path).read_text("utf-8", errors="replace"))
        print(json.dumps({"file": Path(path).name, "title": result["title"], "content": result["content"]},
                         ensure_ascii=False))


def zh_pages(corpora: Path) -> list[dict]:
    paths = sorted((corpora / "html" / "zh").glob("*.html"))
    gne = gne_contents(paths)
    rows = []
    for path in paths:
        html = path.read_text("utf-8", errors="replace")
        candidates = {"trafilatura": trafilatura_text(html), "gne": gne[path.name]["content"].strip()}
        extractor = max(candidates, key=lambda k: (len(candidates[k]), k))
        rows.append({"id": f"html/zh/{path.name}", "url": None, "title": gne[path.name]["title"],
                     "extractor": extractor, "text": candidates[extractor]})
    return rows


def en_pages(corpora: Path) -> list[dict]:
    gold = json.loads((corpora / "html" / "en" / "evaldata_subset.json").read_text())
    rows = []
    for url, entry in sorted(gold.items(), key=lambda kv: kv[1]["file"]):
        html = (corpora / "html" / "en" / entry["file"]).read_text("utf-8", errors="replace")
        rows.append({"id": f"html/en/{entry['file']}", "url": url, "extractor": "trafilatura",
                     "text": trafilatura_text(html, url)})
    return rows


_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", re.I)


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """UTF-8 when the bytes are UTF-8 (many pages declare GB2312 and are not), else the declared charset
    (GB2312/GBK read as their superset GB18030), else charset-normalizer's guess."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = None
    if content_type and "charset=" in content_type.lower():
        declared = content_type.lower().split("charset=")[-1].strip(" ;\"'")
    match = _META_CHARSET.search(body[:4096])
    if declared is None and match:
        declared = match.group(1).decode("ascii").lower()
    if declared in ("gb2312", "gbk", "gb18030", "x-gbk"):
        declared = "gb18030"
    if declared:
        try:
            return body.decode(declared), declared
        except (LookupError, UnicodeDecodeError):
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    if best is not None:
        return str(best), best.encoding
    return body.decode("utf-8", errors="replace"), "utf-8-replace"


def cc_pages(corpora: Path) -> list[dict]:
    from warcio.archiveiterator import ArchiveIterator

    rows = []
    with open(corpora / "warc" / "resiliparse_CC-MAIN-2020-34_sample.warc.gz", "rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type != "response":
                continue
            content_type = record.http_headers.get_header("Content-Type")
            if content_type and "html" not in content_type:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            html, charset = decode_html(record.content_stream().read(), content_type)
            rows.append({"id": record.rec_headers.get_header("WARC-Record-ID"), "url": url, "charset": charset,
                         "extractor": "trafilatura", "text": trafilatura_text(html, url)})
    return rows


def classical_zh(corpora: Path) -> list[dict]:
    base = corpora / "prose" / "chinese_poetry"
    rows = []
    for i, poem in enumerate(json.loads((base / "songci_300.json").read_text())[:60]):
        rows.append({"id": f"songci-{i:03d}", "kind": "song ci (simplified)",
                     "text": poem["rhythmic"] + "\n" + "\n".join(poem["paragraphs"])})
    for i, poem in enumerate(json.loads((base / "quantangshi_poet.tang.0.json").read_text())[:60]):
        rows.append({"id": f"tangshi-{i:03d}", "kind": "Tang poem (traditional)",
                     "text": poem["title"] + "\n" + "\n".join(poem["paragraphs"])})
    for i, chapter in enumerate(json.loads((base / "lunyu.json").read_text())):
        rows.append({"id": f"lunyu-{i:03d}", "kind": "Analects (classical, simplified)",
                     "text": chapter["chapter"] + "\n" + "\n".join(chapter["paragraphs"])})
    anthology = json.loads((base / "guwenguanzhi.json").read_text())
    essays = [essay for volume in anthology["content"] for essay in volume["content"]]
    for i, essay in enumerate(essays[:40]):
        rows.append({"id": f"guwenguanzhi-{i:03d}", "kind": "Guwen Guanzhi essay (classical, traditional)",
                     "text": essay["chapter"] + "\n" + "\n".join(essay["paragraphs"])})
    return rows


def write_jsonl(name: str, rows: list[dict]) -> None:
    with open(HERE / name, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} rows to {name}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--gne":
        _gne_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=Path("/work/shared/corpora"))
    corpora = parser.parse_args().corpora
    write_jsonl("zh_pages.jsonl", zh_pages(corpora))
    write_jsonl("en_pages.jsonl", en_pages(corpora))
    write_jsonl("cc_2020-34_pages.jsonl", cc_pages(corpora))
    write_jsonl("classical_zh.jsonl", classical_zh(corpora))


if __name__ == "__main__":
    main()
