"""Ray job: web input (WARC/WET/HTML files, or a crawl) -> filter -> dedup -> tokenizer -> token shards.

    ray job submit --working-dir . -- python jobs/prepare_web.py --config jobs/configs/web.yaml \
        --output s3://my-bucket/web

The steps are the config's (jobs/configs/web.yaml for files, jobs/configs/crawl.yaml for a crawl), run by
`dataprep run`'s pipeline: a resubmitted job skips every step an earlier run finished.
"""

from __future__ import annotations

from prepare import main, parser

if __name__ == "__main__":
    main(parser(__doc__.splitlines()[0], default_config="jobs/configs/web.yaml").parse_args())
