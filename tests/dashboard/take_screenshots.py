"""Screenshots of the dashboard for the docs: leaderboard, a heatmap, the battle browser.

    python -m tests.dashboard.take_screenshots [--run data/runs/demo] [--out docs]

Starts the dashboard on 127.0.0.1 (viz.py, a free port), opens each view in headless Chromium
(/usr/bin/chromium) and writes docs/dashboard-{leaderboard,heatmap,battles}.png. Without --run
it builds the dry-run demo (configs/demo.yaml) in a temporary folder first (about 10 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from tests.dashboard.browser import CHROMIUM, REPO, chromium, serve_dashboard

SHOTS = [
    # (file, query, text that says the view is there, selector that says its chart is drawn, height)
    ("dashboard-leaderboard.png", {"view": "leaderboard"}, "Download CSV", "canvas, svg.marks", 1000),
    ("dashboard-heatmap.png", {"view": "heatmaps"}, "predicted win rate", "canvas, svg.marks", 900),
    ("dashboard-battles.png", {"view": "battles", "question": "81", "pair": "atlas-70b vs boreal-34b"}, "shown first", None, 1250),
]


def build_demo(folder: Path) -> Path:
    from arena.config import load_config
    from arena.pipeline import plan_run, run_pipeline

    # The demo, plus the rule-based benchmarks of configs/scores.yaml, so the leaderboard shows
    # both kinds of figures side by side.
    config = load_config(REPO / "configs" / "demo.yaml")
    config.benchmarks = load_config(REPO / "configs" / "scores.yaml").benchmarks
    config.stages = [*config.stages, "scores"]
    config.output_dir = str(folder / "demo")
    run_pipeline(plan_run(config))
    return folder / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="run folder to show (default: a fresh dry-run demo)")
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM}: not found; install Debian's chromium (apt-get install -y chromium)")
    run = Path(args.run) if args.run else build_demo(Path(tempfile.mkdtemp(prefix="arena-shots-")))
    out = Path(args.out)
    with serve_dashboard("--run", str(run)) as url, chromium(width=1400, height=1100) as page:
        for name, query, marker, selector, height in SHOTS:
            page.call("Emulation.setDeviceMetricsOverride", width=1400, height=height, deviceScaleFactor=1, mobile=False)
            page.goto(f"{url}/?{urllib.parse.urlencode(query)}")
            page.wait_for_text(marker)
            if selector:
                page.wait_for_selector(selector)
            time.sleep(2.0)  # let charts finish their layout and fonts settle
            page.screenshot(out / name, full_page=False)
            print(out / name)


if __name__ == "__main__":
    main()
