"""Untrusted text in a real headless Chromium: answers with <script> and <img onerror> payloads\nshow as text and nothing in them runs; markdown images, links and references in answers, judge\nreplies, model names, warnings and error messages quoting a file show as text and make the\nbrowser fetch nothing (a logging HTTP server on 127.0.0.1 counts the requests)."""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
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


@contextlib.contextmanager
def logging_server(pages: dict[str, str] | None = None) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every path asked of it (and answers 404, or
    the HTML of `pages[path]`)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            hits.append(self.path)
            body = (pages or {}).get(self.path)
            self.send_response(404 if body is None else 200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            if body is not None:
                self.wfile.write(body.encode("utf-8"))

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _edit_jsonl(path: Path, edit) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    path.write_text("".join(json.dumps(edit(row)) + "\n" for row in rows), encoding="utf-8")


def _fetching_payloads(run: Path, other: Path, url: str) -> dict[str, str]:
    """Markdown that makes a browser fetch `url/...`, put where each view shows untrusted text:
    answers, a judge's reply, a model name only in the compared run, a bad CSV cell quoted by
    an error message, and a ratings warning. Returns where -> the text the page must show."""
    texts = {
        "answer m1": f"Answer one \\`![a]({url}/answer-backslash.png)` end <{url}/autolink>",
        "answer m2": f"Answer two\n```x`y\n![b]({url}/answer-fence.png)\n\n![r][1]\n\n[1]: {url}/reference.png",
        "judge": f"Judge says ![j]({url}/judge.png) [[A]]",
        "model": f"![c]({url}/model-name.png)",
        "cell": f"![d]({url}/error-cell.png)",
        "warning": f"![w]({url}/warning.png)",
    }

    for model in ("m1", "m2"):

        def answer(row: dict, model: str = model) -> dict:
            if str(row["question_id"]) == "t1":
                row["choices"][0]["turns"][0] = texts[f"answer {model}"]
            return row

        _edit_jsonl(run / "answers" / f"{model}.jsonl", answer)

    def review(row: dict) -> dict:
        if str(row["question_id"]) == "t1" and {row["model_a"], row["model_b"]} == {"m1", "m2"}:
            row["raw"] = texts["judge"]
        return row

    _edit_jsonl(run / "reviews" / "pj.jsonl", review)
    board = pd.read_csv(other / "ratings" / "leaderboard.csv")
    board.loc[len(board)] = board.iloc[0]
    board.loc[len(board) - 1, "model"] = texts["model"]
    board.to_csv(other / "ratings" / "leaderboard.csv", index=False)
    scores = pd.read_csv(run / "ratings" / "scores.csv").astype({"mean": object})
    scores.loc[0, "mean"] = texts["cell"]
    scores.to_csv(run / "ratings" / "scores.csv", index=False)
    summary = json.loads((run / "ratings" / "summary.json").read_text(encoding="utf-8"))
    summary["warnings"] = [*(summary.get("warnings") or []), texts["warning"]]
    (run / "ratings" / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return texts


def test_untrusted_text_makes_the_browser_fetch_nothing(dash_run: Path, tmp_path: Path):
    run, other = tmp_path / "runs" / "dash", tmp_path / "runs" / "dash-before"
    shutil.copytree(dash_run, run)
    shutil.copytree(dash_run.parent / "dash-before", other)
    with logging_server() as (url, hits):
        texts = _fetching_payloads(run, other, url)
        link = urllib.parse.urlencode({"view": "battles", "judge": "pj", "question": "t1", "pair": "m1 vs m2"})
        # Per page: a marker that says it has rendered, then the payloads it must show as text.
        pages = {
            f"?{link}": ("Answer two", [f"![a]({url}/answer-backslash.png)", f"<{url}/autolink>", f"![b]({url}/answer-fence.png)", f"[1]: {url}/reference.png", texts["judge"]]),
            "?view=compare": ("in one run only", [f"in one run only: {texts['model']}"]),
            "?view=single": ("expected a number", [f"expected a number, got '{texts['cell']}'"]),
            "?view=leaderboard": ("warning:", [f"warning: {texts['warning']}"]),
        }
        with serve_dashboard("--run", str(run), "--compare", str(other)) as dashboard, chromium() as page:
            for query, (marker, visible) in pages.items():
                page.goto(f"{dashboard}/{query}")
                page.wait_for_text(marker)
                # Give images time to load, were any an element.
                page.evaluate("new Promise(r => setTimeout(r, 1000))")
                assert hits == [], query
                assert page.evaluate(f"document.querySelectorAll('img[src^={json.dumps(url)}], a[href^={json.dumps(url)}]').length") == 0, query
                shown = page.evaluate("document.body.innerText.replaceAll('\\u2060', '')")
                assert [text for text in visible if text not in shown] == [], query


def test_the_fetch_check_would_catch_a_live_image(tmp_path: Path):
    """The same server and probe on a local page with a live image: it sees the fetch."""
    with logging_server({"/page.html": '<p>x</p><img src="/live.png">'}) as (url, hits), chromium() as page:
        page.goto(f"{url}/page.html")
        page.wait_for_text("x")
        page.evaluate("new Promise(r => setTimeout(r, 500))")
        assert "/live.png" in hits
