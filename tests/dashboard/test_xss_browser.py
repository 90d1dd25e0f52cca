"""Model answers with <script> and <img onerror> payloads, shown in a real headless Chromium:
the payload text is visible, nothing in it runs."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from tests.dashboard.browser import CHROMIUM, chromium, serve_dashboard
from tests.dashboard.conftest import XSS_IMG

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)


def test_payloads_in_an_answer_do_not_run(dash_run: Path):
    link = urllib.parse.urlencode({"view": "battles", "judge": "pj", "question": "t1", "pair": "m1 vs m2"})
    with serve_dashboard("--run", str(dash_run)) as url, chromium() as page:
        page.goto(f"{url}/?{link}")
        page.wait_for_text("<script>document.title='PWNED-SCRIPT';window.__pwned=1</script>")
        page.wait_for_text("<img src=x onerror=")
        # Give a broken image time to fire its onerror, were it ever an element.
        page.evaluate("new Promise(r => setTimeout(r, 1500))")
        assert page.evaluate("window.__pwned === undefined")
        assert "PWNED" not in page.evaluate("document.title")
        assert page.evaluate("document.querySelectorAll('img[onerror]').length") == 0
        assert page.evaluate("[...document.scripts].some(s => s.textContent.includes('PWNED'))") is False
        # The page rendered the judge's verdict text too: we looked at a real, finished page.
        page.wait_for_text("shown first")


def test_the_check_would_catch_a_payload_that_runs(dash_run: Path):
    """The same probes on a page where the payload does run (HTML allowed): they see it."""
    with chromium() as page:
        html = f"<html><body><p>x</p>{XSS_IMG}</body></html>"
        page.goto("data:text/html," + urllib.parse.quote(html))
        page.evaluate("new Promise(r => setTimeout(r, 500))")
        assert page.evaluate("window.__pwned") == 2
        assert "PWNED" in page.evaluate("document.title")
