"""The extraction watchdog: a page past the time limit is killed in the child, and the next page is served."""

from __future__ import annotations

import pytest

from dataprep.web.watchdog import ExtractionWatchdog
from tests.web.warcs import EN, deeply_nested_page


@pytest.fixture
def watchdog():
    with ExtractionWatchdog(timeout_s=1.5) as dog:
        yield dog


def test_a_deeply_nested_page_times_out_and_the_child_is_replaced(watchdog):
    good = (EN / "flowfx.de.tmux.html").read_bytes().decode("utf-8")
    first = watchdog.extract(good, "resiliparse_rules")
    assert "tmux" in first.text
    # 20,000 nested <div>s: about 9 s in resiliparse's main-content pass (C code that no signal interrupts)
    stuck = watchdog.extract(deeply_nested_page().decode(), "resiliparse_rules")
    assert stuck.text is None and stuck.reason == "extraction_timeout"
    after = watchdog.extract(good, "resiliparse_rules")
    assert after.text == first.text
    assert watchdog.started == 2  # one replacement child, not one process per page


def test_a_sleeping_extractor_times_out(watchdog):
    outcome = watchdog.extract("<html><body><p>slow</p></body></html>", "tests.web.slow_extractor:sleepy")
    assert outcome.reason == "extraction_timeout"


def test_one_child_serves_many_pages(watchdog):
    pages = [p.read_bytes().decode("utf-8", "replace") for p in sorted(EN.glob("*.html"))[:5]]
    for page in pages:
        assert watchdog.extract(page, "resiliparse_rules").text
    assert watchdog.started == 1


def test_an_extractor_that_raises_is_a_counted_error(watchdog):
    outcome = watchdog.extract("<html></html>", "tests.web.warcs:no_such_function")
    assert outcome.text is None and outcome.reason == "extraction_error"
