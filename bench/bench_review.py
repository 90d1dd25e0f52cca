"""Benchmark: how fast the Review view acknowledges a vote, on a 2M-battle run, in a browser.

    python bench/bench_review.py [--keep DIR] [--votes 40]

Builds (or reuses, with --keep) bench_dashboard.py's synthetic run (100 models, 2,000,000
battles over 4,000 questions, 8 categories, 2 turns) and adds what a reviewer reads: the
questions and every model's answers (two turns of ~600 characters each). Then, in one run, side
by side, it serves the dashboard (`streamlit run viz.py`) on that run and on a small one (the
first 2,000 battles of the same log, same answers), opens the Review view in headless Chromium,
and times each vote in the page itself: from the click on a vote button to the moment the page
shows "Vote recorded" (performance.now() and a MutationObserver, so the figure is what a
reviewer sees, transport and rendering included). The first vote of each run is a warm-up (it
builds the review index); the next `--votes` are measured.

Prints the median, 90th percentile and worst acknowledgement per run, the 300 ms target, and
the ratio of the 2M run's median to the small run's (how much the log's size costs a vote).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_dashboard import CATEGORIES, build_run  # noqa: E402

from tests.dashboard.browser import CHROMIUM, Page, chromium_browser, serve_dashboard  # noqa: E402

TARGET_MS = 300.0
NOTE_FIELD = 'textarea[aria-label="note (optional)"]'
WORDS = np.array("the model answer explains each step with care and a short example of the idea in code".split())

# Click a vote button and resolve with the milliseconds until the page says the vote is recorded.
TIMED_VOTE = """new Promise((resolve, reject) => {
  const button = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === LABEL);
  if (!button) { reject('no vote button'); return; }
  const start = performance.now();
  const seen = () => document.body.innerText.includes('Vote recorded');
  const observer = new MutationObserver(() => { if (seen()) { observer.disconnect(); resolve(performance.now() - start); } });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
  button.click();
  setTimeout(() => { observer.disconnect(); reject('no acknowledgement within 30 s'); }, 30000);
})"""


def add_answers(root: Path, n_questions: int = 4000, seed: int = 0) -> Path:
    """questions.jsonl beside the run, and answers/<model>.jsonl for every model of its battles."""
    rng = np.random.default_rng(seed)
    questions = root / "questions.jsonl"
    if (root / "answers").is_dir() and questions.is_file():
        return questions
    with open(questions, "w", encoding="utf-8") as handle:
        for q in range(n_questions):
            turns = [f"Question {q}, turn {t}: " + " ".join(rng.choice(WORDS, 25)) + "?" for t in (1, 2)]
            handle.write(json.dumps({"question_id": q, "category": CATEGORIES[q % len(CATEGORIES)], "turns": turns}) + "\n")
    (root / "answers").mkdir(exist_ok=True)
    for m in range(100):
        model = f"model-{m:03d}"
        with open(root / "answers" / f"{model}.jsonl", "w", encoding="utf-8") as handle:
            for q in range(n_questions):
                turns = [" ".join(rng.choice(WORDS, 100)) + "." for _ in range(2)]
                handle.write(json.dumps({"question_id": q, "answer_id": f"{model}-{q}", "model_id": model,
                                         "choices": [{"index": 0, "turns": turns}], "tstamp": 0.0}) + "\n")
    return questions


def small_copy(big: Path, small: Path, n_battles: int = 2000) -> None:
    """The first battles of the big run's log, with links to its answers and questions."""
    small.mkdir(parents=True, exist_ok=True)
    with open(big / "battles.jsonl", encoding="utf-8") as source, open(small / "battles.jsonl", "w", encoding="utf-8") as out:
        for _, line in zip(range(n_battles), source):
            out.write(line)
    (small / "run.json").write_text((big / "run.json").read_text(encoding="utf-8"), encoding="utf-8")
    if not (small / "answers").exists():
        (small / "answers").symlink_to(big / "answers")


def time_votes(run: Path, questions: Path, votes: int) -> tuple[list[float], float]:
    """Milliseconds to acknowledge each measured vote, and seconds to the first battle."""
    timings = []
    with serve_dashboard("--run", str(run), "--questions", str(questions), "--reviewer", "bench", timeout=120) as url, \
            chromium_browser() as browser:
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(f"{url}/?view=review")
        page.wait_for_selector(NOTE_FIELD, timeout=300)
        first = time.perf_counter() - start
        labels = ["A is better", "B is better", "Tie", "Both are bad"]
        for k in range(votes + 1):
            _ready(page)
            elapsed = page.evaluate(TIMED_VOTE.replace("LABEL", json.dumps(labels[k % 4])))
            if k:
                timings.append(float(elapsed))
            page.settle()
            page.click_button("Next battle")
    return timings, first


def _ready(page: Page) -> None:
    page.wait_without_text("Vote recorded")
    page.wait_for_selector(NOTE_FIELD)
    page.settle()


def summary(name: str, timings: list[float], first: float) -> str:
    ordered = sorted(timings)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (f"{name}: {len(timings)} votes, acknowledged in median {statistics.median(timings):.0f} ms, "
            f"p90 {p90:.0f} ms, worst {ordered[-1]:.0f} ms (target {TARGET_MS:.0f} ms: "
            f"{'met' if p90 <= TARGET_MS else 'MISSED'} at p90); first battle after {first:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", help="build the 2M-battle run in this folder (reused when present)")
    parser.add_argument("--votes", type=int, default=40, help="measured votes per run (default 40)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-review-")) / "big"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not (root / "battles.jsonl").exists():
        start = time.perf_counter()
        build_run(root, 100, 2_000_000)
        print(f"built 2,000,000 battles of 100 models in {time.perf_counter() - start:.1f} s ({root})")
    questions = add_answers(root)
    for votes in (root / "human" / "votes.jsonl", root.parent / "small-run" / "human" / "votes.jsonl"):
        votes.unlink(missing_ok=True)  # each round starts with no votes
    small = root.parent / "small-run"
    small_copy(root, small)
    big_ms, big_first = time_votes(root, questions, args.votes)
    small_ms, small_first = time_votes(small, questions, args.votes)
    print(summary("2,000,000 battles", big_ms, big_first))
    print(summary("2,000 battles    ", small_ms, small_first))
    ratio = statistics.median(big_ms) / statistics.median(small_ms)
    print(f"median acknowledgement, 2M battles / 2,000 battles: {ratio:.2f}x")


if __name__ == "__main__":
    main()
