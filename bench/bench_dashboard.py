"""Benchmark: the dashboard's first paint on a large run, against the 3 s target.

    python bench/bench_dashboard.py [--models 100] [--battles 2000000] [--keep DIR]

Builds a synthetic run folder (battles.jsonl with 100 models and 2,000,000 battles over 8
categories and 2 turns, one judge; a scores/summary.csv beside it), runs the ratings stage on it
(100 bootstrap rounds, no style control: its per-battle bootstrap takes minutes at this size, see
docs/RATINGS.md), then, in this process, times Streamlit's AppTest running viz.py's default page
(the leaderboard) with an empty cache ("cold": what a user opening the page waits for) and again
("warm": every later interaction). Beside it, the time just to parse the raw battles.jsonl with
pandas: what a page that read the battles for its leaderboard would pay before any rating.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.config import RatingConfig  # noqa: E402
from arena.stages.ratings import run_ratings  # noqa: E402
from arena.store import write_json_atomic  # noqa: E402

CATEGORIES = ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"]
WINNERS = np.array(["model_a", "model_b", "tie"], dtype=object)


def build_run(root: Path, n_models: int, n_battles: int, seed: int = 0) -> None:
    """A run folder with battles.jsonl, run.json and scores/summary.csv (no answers: the
    leaderboard does not read them)."""
    rng = np.random.default_rng(seed)
    models = np.array([f"model-{i:03d}" for i in range(n_models)], dtype=object)
    strength = rng.normal(0.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = rng.integers(0, n_models - 1, n_battles)
    b = np.where(b >= a, b + 1, b)
    p_a = expit(strength[a] - strength[b])
    tie = rng.random(n_battles) < 0.15
    a_wins = rng.random(n_battles) < p_a
    winner = np.where(tie, 2, np.where(a_wins, 0, 1))
    outcome = np.where(tie, 0.5, np.where(a_wins, 1.0, 0.0))
    question = rng.integers(0, 4000, n_battles)
    frame = pd.DataFrame(
        {
            "question_id": question,
            "category": np.array(CATEGORIES, dtype=object)[question % len(CATEGORIES)],
            "model_a": models[a],
            "model_b": models[b],
            "winner": WINNERS[winner],
            "judge": "judge",
            "turn": 1 + (rng.random(n_battles) < 0.5),
            "outcome": outcome,
            "weight": 1.0,
            "mode": "pairwise-all",
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    frame.to_json(root / "battles.jsonl", orient="records", lines=True)
    write_json_atomic(root / "run.json", {"name": root.name, "dry_run": True, "config": None})
    (root / "scores").mkdir(exist_ok=True)
    scores = pd.DataFrame(
        {"model": models, "benchmark": "mmlu", "style": "letter_logprob", "metric": "accuracy",
         "value": expit(strength) * 0.6 + 0.25, "n": 14042, "ci_low": np.nan, "ci_high": np.nan}
    )
    scores.to_csv(root / "scores" / "summary.csv", index=False)


def first_paint(run: Path) -> float:
    from streamlit.testing.v1 import AppTest

    sys.argv = ["viz.py", "--run", str(run)]
    start = time.perf_counter()
    at = AppTest.from_file(str(REPO / "viz.py"), default_timeout=120).run()
    elapsed = time.perf_counter() - start
    if at.exception or at.error:
        raise SystemExit(f"the page failed: {[e.value for e in at.exception] + [e.value for e in at.error]}")
    rows = len(at.dataframe[0].value)
    if rows != N_MODELS:
        raise SystemExit(f"the leaderboard shows {rows} models, expected {N_MODELS}")
    return elapsed


N_MODELS = 100


def main() -> None:
    global N_MODELS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--battles", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=100, help="bootstrap rounds of the ratings stage")
    parser.add_argument("--keep", help="build the run in this folder (reused if it already has ratings)")
    args = parser.parse_args()
    N_MODELS = args.models
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "big"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not (root / "ratings" / "leaderboard.csv").exists():
        start = time.perf_counter()
        build_run(root, args.models, args.battles)
        print(f"built {args.battles:,} battles of {args.models} models in {time.perf_counter() - start:.1f} s ({root})")
        start = time.perf_counter()
        settings = RatingConfig(methods=["bt", "elo"], bootstrap=args.rounds, style_control=False)
        run_ratings(root, settings)
        print(f"ratings stage: {time.perf_counter() - start:.1f} s")
    size = sum(p.stat().st_size for p in (root / "ratings").iterdir())
    print(f"ratings folder: {size / 1e6:.2f} MB; battles.jsonl: {(root / 'battles.jsonl').stat().st_size / 1e6:.0f} MB")

    import streamlit as st

    st.cache_data.clear()
    cold = first_paint(root)
    warm = first_paint(root)
    start = time.perf_counter()
    pd.read_json(root / "battles.jsonl", lines=True, dtype=False)
    raw = time.perf_counter() - start
    print(f"first paint (cold cache): {cold:.2f} s  (target 3 s: {'met' if cold <= 3 else 'MISSED'}, {3 / cold:.1f}x under)")
    print(f"rerun (warm cache):       {warm:.2f} s")
    print(f"parsing battles.jsonl alone (what a page reading raw battles pays first): {raw:.1f} s, {raw / cold:.0f}x the first paint")


if __name__ == "__main__":
    main()
