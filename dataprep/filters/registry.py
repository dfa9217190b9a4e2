"""Every filter and mapper a configuration may name. A new filter is a new module plus one entry here."""

from __future__ import annotations

from dataprep.filters.bad_words import BadWords
from dataprep.filters.base import Stage
from dataprep.filters.c4 import C4Quality
from dataprep.filters.chinese import ChineseQuality
from dataprep.filters.fineweb import FineWebQuality
from dataprep.filters.gopher_quality import GopherQuality
from dataprep.filters.gopher_repetition import GopherRepetition
from dataprep.filters.language import LanguageFilter
from dataprep.filters.pii import PiiRedactor
from dataprep.filters.text_checks import TextChecks
from dataprep.filters.url import UrlFilter

STAGES: dict[str, type[Stage]] = {
    cls.name: cls
    for cls in (TextChecks, UrlFilter, LanguageFilter, GopherRepetition, GopherQuality, C4Quality, FineWebQuality,
                ChineseQuality, BadWords, PiiRedactor)
}
