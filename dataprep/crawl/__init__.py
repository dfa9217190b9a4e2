"""A polite, resumable web crawler: pure parts (URLs, robots.txt, politeness, fetching, WARC files, the frontier).

The Ray wiring lives in `dataprep.distributed.crawl`; nothing here imports Ray.
"""
