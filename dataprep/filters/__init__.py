"""`dataprep filter`: language ID, quality rules for Chinese and English, PII redaction; every drop explained.

    from dataprep.filters import FilterChain, load_filter_config
    kept, rejected, stats = FilterChain.from_config(load_filter_config("my.yaml")).apply(table)
"""

from dataprep.filters.chain import ChainResult, FilterChain, rejected_schema
from dataprep.filters.config import FilterConfig, default_config, load_filter_config

__all__ = ["ChainResult", "FilterChain", "FilterConfig", "default_config", "load_filter_config", "rejected_schema"]
