"""Rebuild the bundled demo corpus from the shared third-party corpora (see SOURCES.md beside this file).

Only the file formats change (JSON arrays and pair files become one JSON document per line); the text is as published.
Run from the repository root with the shared corpora at ../shared/corpora:  python data/demo/build.py
"""

import gzip
import json
import shutil
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "corpora"
HERE = Path(__file__).resolve().parent
# Raw web input for the demo's web pipeline, copied byte for byte.
WARCS = ["dolma_sample-0001.warc.gz", "resiliparse_CC-MAIN-2020-34_sample.warc.gz"]
HTML = {
    "zh": ["people_1.html", "xinhuanet_1.html", "thepaper_2.html", "qq_2.html", "zsnews_1.html", "stcn_1.html"],
    "en": ["nature.com.telescope.html", "politico.com.retirement.html", "salon.com.emissions.html",
           "lemire.me.json.html", "wikimediafoundation.org.turkey.html"],
}


def write_jsonl(path: Path, records) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    web = HERE / "web"
    web.mkdir(exist_ok=True)
    shutil.copy(SHARED / "prose" / "llamafactory_c4_demo.jsonl", web / "c4_demo.jsonl")
    lines = (SHARED / "prose" / "llamafactory_wiki_demo.txt").read_text(encoding="utf-8").splitlines()
    write_jsonl(web / "wiki_demo.jsonl", ({"id": f"wiki-{i:02d}", "text": t} for i, t in enumerate(lines) if t.strip()))
    pairs = [json.loads(l) for l in (SHARED / "neardup" / "sohu2021_dd-test_zh_pairs.jsonl").read_text().splitlines()]
    write_jsonl(
        web / "sohu_news_zh.jsonl",
        (
            {"id": f"sohu-{i:03d}-{side}", "text": pair[f"sentence{side}"], "label": pair["label"]}
            for i, pair in enumerate(pairs)
            for side in (1, 2)
        ),
    )
    poems = json.loads((SHARED / "prose" / "chinese_poetry" / "songci_300.json").read_text(encoding="utf-8"))
    write_jsonl(
        web / "songci_zh.jsonl",
        (
            {"id": f"songci-{i:03d}", "text": p["rhythmic"] + "\n" + "\n".join(p["paragraphs"]), "author": p["author"]}
            for i, p in enumerate(poems)
        ),
    )
    dialogue = HERE / "dialogue"
    dialogue.mkdir(exist_ok=True)
    shutil.copy(SHARED / "dialogue" / "llamafactory_alpaca_en_demo.json", dialogue / "alpaca_en_demo.json")
    # kdconv_zh_messages30.jsonl is the OpenAI-messages conversion kept in tests/data/tokenizer/.
    shutil.copy(HERE.parents[1] / "tests" / "data" / "tokenizer" / "kdconv_zh_messages30.jsonl", dialogue)
    for name in WARCS:
        (HERE / "warc").mkdir(exist_ok=True)
        shutil.copy(SHARED / "warc" / name, HERE / "warc" / name)
    for lang, pages in HTML.items():
        (HERE / "html" / lang).mkdir(parents=True, exist_ok=True)
        for page in pages:
            shutil.copy(SHARED / "html" / lang / page, HERE / "html" / lang / page)
    pref = HERE / "preference"
    pref.mkdir(exist_ok=True)
    shutil.copy(SHARED / "preference" / "hh-rlhf_harmless-base_test.jsonl.gz", pref / "hh-rlhf_harmless-base_test.jsonl.gz")


if __name__ == "__main__":
    main()
