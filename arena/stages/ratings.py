"""The ratings stage: battles.jsonl (and single-mode grades) -> ratings/ folder.

Reads `<run>/battles.jsonl` (every judge pooled for the top-level leaderboard; the reviews stage
writes only valid battles there, error calls are not battles) and the single-mode grades in
`<run>/reviews/*.jsonl` (status "ok" with a score), then writes `<run>/ratings/` through
arena.leaderboard (files and columns: docs/RATINGS.md) and a short section of the run summary.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from arena.battle_log import read_battles_jsonl, run_juries
from arena.config import RatingConfig
from arena.errors import ArenaError
from arena.leaderboard import RatingsResult, compute_ratings
from arena.records import Review, from_json
from arena.rundir import RunDir
from arena.store import read_jsonl

log = logging.getLogger(__name__)

__all__ = ["RatingsResult", "run_ratings", "read_single_scores"]


def run_ratings(run_dir: Path, settings: RatingConfig) -> RatingsResult:
    """Rate the run's battles and write its ratings folder; returns the result (the caller
    prints `result.table_text()`)."""
    run = RunDir(Path(run_dir))
    if not run.battles.exists():
        raise ArenaError(f"{run.battles}: no battles file; run the reviews stage first (--stages reviews)")
    battle_log = read_battles_jsonl(run.battles)
    battles = battle_log.battles
    scores, notes = read_single_scores(run.root / "reviews", battles)
    result = compute_ratings(battles, settings, scores=scores, notes=battle_log.notes + notes, main_judges=run_juries(run.root))
    for warning in result.warnings:
        log.warning("ratings: %s", warning)
    for note in result.summary["notes"] + result.summary["skipped"]:
        log.info("ratings: %s", note)
    result.write(run.ratings)
    top = result.leaderboard.iloc[0]["model"] if len(result.leaderboard) else None
    run.update_summary(
        "ratings",
        {
            "n_battles": result.summary["n_battles"],
            "n_models": result.summary["n_models"],
            "method": result.summary["method"],
            "top_model": top,
            "warnings": len(result.warnings),
            "folder": "ratings",
        },
    )
    return result


def read_single_scores(reviews_dir: Path, battles: pd.DataFrame) -> tuple[pd.DataFrame | None, list[str]]:
    """Single-mode grades from every `reviews/<judge>.jsonl`: one row per graded answer (judge,
    model, question_id, turn, category, score). Categories come from the battles (reviews do not
    carry them); calls without a grade (status "error") are counted in the notes."""
    if not reviews_dir.is_dir():
        return None, []
    category = dict(zip(battles["question_id"].astype(str), battles["category"]))
    rows, notes = [], []
    for path in sorted(reviews_dir.glob("*.jsonl")):
        failed = 0
        for number, obj in read_jsonl(path):
            # Pairwise calls are most of a pairwise run's reviews and not needed here: skip them
            # before the (comparatively slow) checked conversion.
            if obj.get("mode") != "single":
                continue
            review = from_json(Review, obj, f"{path}:{number}")
            if review.status != "ok" or review.score is None:
                failed += 1
                continue
            qid = str(review.question_id)
            rows.append((review.judge, review.model_a, qid, review.turn, category.get(qid, ""), float(review.score)))
        if failed:
            notes.append(f"{path}: {failed} single-grading calls have no score (status error) and are not in scores.csv")
    if not rows:
        return None, notes
    return pd.DataFrame(rows, columns=["judge", "model", "question_id", "turn", "category", "score"]), notes
