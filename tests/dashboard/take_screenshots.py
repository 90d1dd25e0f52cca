"""Screenshots of the dashboard for the docs: leaderboard, a heatmap, the battle browser, and
the Review view (a blind battle, the reveal after a vote, the agreement page).

    python -m tests.dashboard.take_screenshots [--fresh] [--out docs]

Made from exactly the README's commands, in the repository root: `run_arena -c configs/demo.yaml`
(the dry-run demo into data/runs/demo; skipped where that folder holds a finished run, unless
--fresh), then `arena dashboard data/runs/demo` on a free port of 127.0.0.1; each view is opened
in headless Chromium (/usr/bin/chromium) and written as docs/dashboard-{leaderboard,heatmap,
battles}.png. So the pictures show what a newcomer sees, paths included. For the Review view two
reviewers (two browser contexts) vote on the first battles, and the shots are
docs/dashboard-review-{battle,reveal,agreement}.png; the demo run's votes file is put back as it
was afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from tests.dashboard.browser import (
    CHROMIUM,
    REPO,
    Page,
    _wait_http,
    chromium,
    chromium_browser,
    free_port,
)

DEMO_RUN = "data/runs/demo"
BIN = Path(sys.executable).parent  # the venv's console scripts, as `pip install -e .` made them

SHOTS = [
    # (file, query, text that says the view is there, selector that says its chart is drawn, height)
    ("dashboard-leaderboard.png", {"view": "leaderboard"}, "Download CSV", "canvas, svg.marks", 1000),
    ("dashboard-heatmap.png", {"view": "heatmaps"}, "predicted win rate", "canvas, svg.marks", 900),
    ("dashboard-battles.png", {"view": "battles", "question": "81", "pair": "atlas-70b vs boreal-34b"}, "shown first", None, 1250),
]


def run_readme_demo(fresh: bool) -> None:
    """The README's first command, unless its run is already there."""
    if fresh:
        shutil.rmtree(REPO / DEMO_RUN, ignore_errors=True)
    if not (REPO / DEMO_RUN / "scores" / "summary.csv").exists():
        subprocess.run([str(BIN / "run_arena"), "-c", "configs/demo.yaml"], cwd=REPO, check=True)


@contextlib.contextmanager
def readme_dashboard() -> Iterator[str]:
    """`arena dashboard data/runs/demo --port P`, as the README starts it; yields its URL."""
    port = free_port()
    env = {**os.environ, "STREAMLIT_SERVER_HEADLESS": "true"}  # no browser to open on this machine
    process = subprocess.Popen([str(BIN / "arena"), "dashboard", DEMO_RUN, "--port", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/_stcore/health", 60, process)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


NOTE_FIELD = 'textarea[aria-label="note (optional)"]'
# A reviewer's votes on the first battles of the shared order (both reviewers meet there).
VOTES = {"ana": ["A is better", "B is better", "A is better", "Tie", "B is better", "A is better"],
         "ben": ["A is better", "B is better", "B is better", "Tie", "B is better", "Both are bad"]}


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/?view=review")
    page.type_into('input[aria-label="Your name (stored with each of your votes)"]', name)
    page.click_button("Start reviewing")
    page.wait_for_selector(NOTE_FIELD)
    page.settle()


def review_shots(url: str, out: Path) -> None:
    votes = REPO / DEMO_RUN / "human" / "votes.jsonl"
    kept = votes.read_bytes() if votes.exists() else None
    folder_was_there = votes.parent.exists()
    try:
        with chromium_browser() as browser:
            pages = {name: browser.new_page(width=1800, height=1300) for name in VOTES}
            for name, page in pages.items():
                _sign_in(page, url, name)
                for k, choice in enumerate(VOTES[name]):
                    page.wait_without_text("Vote recorded")
                    page.wait_for_selector(NOTE_FIELD)
                    page.settle()
                    if name == "ben" and k == len(VOTES[name]) - 1:
                        time.sleep(1.0)
                        page.screenshot(out / "dashboard-review-battle.png", full_page=False)
                        print(out / "dashboard-review-battle.png")
                        page.type_into(NOTE_FIELD, "Both miss the second part of the question.")
                    page.click_button(choice)
                    page.wait_for_text("Vote recorded")
                    page.settle()
                    if name == "ben" and k == len(VOTES[name]) - 1:
                        time.sleep(1.0)
                        page.screenshot(out / "dashboard-review-reveal.png", full_page=False)
                        print(out / "dashboard-review-reveal.png")
                    page.click_button("Next battle")
            page = pages["ben"]
            page.settle()
            page.click_label("agreement and leaderboards")
            page.wait_for_text("Leaderboards: people")
            page.settle()
            time.sleep(2.0)
            page.screenshot(out / "dashboard-review-agreement.png", full_page=False)
            print(out / "dashboard-review-agreement.png")
    finally:
        if kept is None:
            votes.unlink(missing_ok=True)
            if not folder_was_there and votes.parent.exists():
                votes.parent.rmdir()
        else:
            votes.write_bytes(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help=f"run the demo again even where {DEMO_RUN} exists")
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM}: not found; install Debian's chromium (apt-get install -y chromium)")
    run_readme_demo(args.fresh)
    out = Path(args.out)
    with readme_dashboard() as url, chromium(width=1800, height=1100) as page:
        for name, query, marker, selector, height in SHOTS:
            page.call("Emulation.setDeviceMetricsOverride", width=1800, height=height, deviceScaleFactor=1, mobile=False)
            page.goto(f"{url}/?{urllib.parse.urlencode(query)}")
            page.wait_for_text(marker)
            if selector:
                page.wait_for_selector(selector)
            time.sleep(2.0)  # let charts finish their layout and fonts settle
            page.screenshot(out / name, full_page=False)
            print(out / name)
        review_shots(url, out)


if __name__ == "__main__":
    main()
