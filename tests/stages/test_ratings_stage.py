"""The ratings stage writes every file with the documented columns, from a hand-built run folder
and from a real dry run of the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit

from arena.cli import main
from arena.config import AnchorConfig, RatingConfig
from arena.errors import ArenaError
from arena.leaderboard import FILES, LEADERBOARD_COLUMNS, SCORE_COLUMNS, SUB_COLUMNS
from arena.records import Battle, Review, Style, to_json
from arena.stages.ratings import run_ratings

MODELS = ["m-strong", "m-mid", "m-weak"]
STRENGTH = {"m-strong": 0.8, "m-mid": 0.0, "m-weak": -0.8}


def _style(rng: np.random.Generator) -> Style:
    return Style(
        tokens=int(rng.integers(50, 400)), chars=800, headers=int(rng.integers(0, 3)),
        lists=int(rng.integers(0, 4)), bold=int(rng.integers(0, 3)),
    )


def write_run(root: Path, seed: int = 0) -> Path:
    """A run folder with battles from two judges over two turns and two categories (with
    styles and some weights != 1), plus single-mode grades and one failed grading call."""
    rng = np.random.default_rng(seed)
    battles, reviews = [], {"grader": []}
    for q in range(40):
        category = "math" if q % 2 else "writing"
        for turn in (1, 2):
            for judge in ("judge-1", "judge-2"):
                for i, a in enumerate(MODELS):
                    for b in MODELS[i + 1 :]:
                        p = expit(STRENGTH[a] - STRENGTH[b])
                        outcome = float(rng.choice([1.0, 0.5, 0.0], p=[0.85 * p, 0.15, 0.85 * (1 - p)]))
                        winner = {1.0: "model_a", 0.5: "tie", 0.0: "model_b"}[outcome]
                        battles.append(Battle(
                            question_id=q, category=category, model_a=a, model_b=b, winner=winner, judge=judge,
                            turn=turn, outcome=outcome, weight=2.0 if q % 7 == 0 else 1.0, mode="pairwise-all",
                            style_a=_style(rng), style_b=_style(rng),
                        ))
            for model in MODELS:
                score = float(np.clip(np.round(6 + 2 * STRENGTH[model] + rng.normal(0, 1.5)), 1, 10))
                reviews["grader"].append(Review(
                    judge="grader", template="single-rating", mode="single", question_id=q, turn=turn, model_a=model,
                    model_b=None, first=model, prompt_hash="h", raw=f"Rating: [[{score}]]", status="ok", score=score,
                ))
    reviews["grader"].append(Review(
        judge="grader", template="single-rating", mode="single", question_id=99, turn=1, model_a="m-mid", model_b=None,
        first="m-mid", prompt_hash="h", raw="no verdict", status="error", error="no rating found",
    ))
    root.mkdir(parents=True, exist_ok=True)
    (root / "battles.jsonl").write_text("".join(to_json(b) + "\n" for b in battles), encoding="utf-8")
    (root / "reviews").mkdir(exist_ok=True)
    for judge, rows in reviews.items():
        (root / "reviews" / f"{judge}.jsonl").write_text("".join(to_json(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_stage_writes_every_file_with_the_stated_columns(tmp_path):
    run = write_run(tmp_path / "run")
    result = run_ratings(run, RatingConfig(bootstrap=60, seed=1, workers=2))
    folder = run / "ratings"
    written = {p.name for p in folder.iterdir()}
    assert written == set(FILES), written ^ set(FILES)

    lb = pd.read_csv(folder / "leaderboard.csv")
    assert list(lb.columns[:5]) == ["model", "rating", "ci_low", "ci_high", "n_battles"]
    assert list(lb.columns[: len(LEADERBOARD_COLUMNS)]) == LEADERBOARD_COLUMNS
    assert {"elo", "style_rating", "style_ci_low", "style_ci_high"} <= set(lb.columns)
    assert lb["model"].tolist() == MODELS  # the strength order is recovered
    assert lb["rating"].mean() == pytest.approx(1000.0)
    assert (lb["ci_low"] < lb["rating"]).all() and (lb["rating"] < lb["ci_high"]).all()
    assert lb["n_battles"].tolist() == [320, 320, 320]  # 40 questions x 2 turns x 2 judges x 2 opponents
    assert (lb["n_wins"] + lb["n_losses"] + lb["n_draws"] == lb["n_battles"]).all()
    pd.testing.assert_frame_equal(lb, result.leaderboard, check_dtype=False)

    for name in ("win_rate.csv", "battle_counts.csv", "predicted_win_rate.csv"):
        matrix = pd.read_csv(folder / name, index_col="model")
        assert matrix.index.tolist() == MODELS and matrix.columns.tolist() == MODELS
    counts = pd.read_csv(folder / "battle_counts.csv", index_col="model")
    assert counts.loc["m-strong", "m-weak"] == 160 and counts.loc["m-weak", "m-weak"] == 0
    predicted = pd.read_csv(folder / "predicted_win_rate.csv", index_col="model").to_numpy()
    np.testing.assert_allclose(predicted + predicted.T, 1.0)
    h2h = pd.read_csv(folder / "head_to_head.csv")
    assert h2h.columns.tolist() == ["model", "opponent", "n_battles", "win_rate", "win_rate_se", "n_wins", "n_losses", "n_draws"]
    assert len(h2h) == 6

    for name, column, values in (
        ("by_category.csv", "category", ["math", "writing"]),
        ("by_judge.csv", "judge", ["judge-1", "judge-2"]),
        ("by_turn.csv", "turn", [1, 2]),
    ):
        table = pd.read_csv(folder / name)
        assert table.columns.tolist() == [column, *SUB_COLUMNS]
        assert sorted(table[column].unique().tolist()) == values
        assert len(table) == 2 * len(MODELS)

    style = pd.read_csv(folder / "style_control.csv")
    assert style.columns.tolist() == ["model", "rating", "ci_low", "ci_high", "rating_raw", "rating_delta", "rank", "rank_raw", "rank_best", "rank_worst"]
    coef = pd.read_csv(folder / "style_coefficients.csv")
    assert coef.columns.tolist() == ["feature", "coef", "ci_low", "ci_high"]
    assert coef["feature"].tolist() == ["length_tokens", "headers", "lists", "bold"]

    scores = pd.read_csv(folder / "scores.csv", dtype={"turn": str})
    assert scores.columns.tolist() == SCORE_COLUMNS
    overall = scores[(scores["turn"] == "all") & (scores["category"] == "all")].set_index("model")
    assert overall.loc[MODELS, "n"].tolist() == [80, 80, 80]
    assert overall.loc["m-strong", "mean"] > overall.loc["m-weak", "mean"]
    assert set(scores["turn"]) == {"all", "1", "2"} and set(scores["category"]) == {"all", "math", "writing"}

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n_battles"] == 480 and summary["n_models"] == 3 and summary["method"] == "bt"
    assert set(summary["files"]) == set(FILES)
    assert summary["judges"] == ["judge-1", "judge-2"] and summary["turns"] == [1, 2]
    assert any("1 single-grading calls have no score" in n for n in summary["notes"])
    assert summary["leaderboard"][0]["model"] == "m-strong"
    run_summary = json.loads((run / "summary.json").read_text())
    assert run_summary["ratings"]["top_model"] == "m-strong"

    text = result.table_text()
    assert "m-strong" in text.splitlines()[2] and "95% CI" in text
    assert "single-grading mean scores" in text and "turn 2" in text


def test_rerun_with_fewer_tables_removes_stale_ones(tmp_path):
    run = write_run(tmp_path / "run")
    run_ratings(run, RatingConfig(bootstrap=10, workers=1))
    assert (run / "ratings" / "by_category.csv").exists()
    run_ratings(run, RatingConfig(bootstrap=10, per_category=False, style_control=False, methods=["bt"], workers=1))
    names = {p.name for p in (run / "ratings").iterdir()}
    assert "by_category.csv" not in names and "style_control.csv" not in names
    assert "elo" not in pd.read_csv(run / "ratings" / "leaderboard.csv").columns


def test_elo_only_and_anchor(tmp_path):
    run = write_run(tmp_path / "run")
    result = run_ratings(run, RatingConfig(methods=["elo"], bootstrap=5, anchor=AnchorConfig(model="m-mid", rating=1200), workers=1))
    lb = result.leaderboard.set_index("model")
    assert lb.loc["m-mid", "rating"] == pytest.approx(1200.0)
    assert result.summary["method"] == "elo"
    assert lb.loc["m-strong", "rating"] > 1200 > lb.loc["m-weak", "rating"]


def test_missing_battles_file_says_what_to_run(tmp_path):
    with pytest.raises(ArenaError, match=r"battles.jsonl: no battles file; run the reviews stage first"):
        run_ratings(tmp_path, RatingConfig())


def test_pipeline_dry_run_ends_in_a_leaderboard(tmp_path, capsys):
    out = tmp_path / "run"
    config = {
        "name": "t", "output_dir": str(out), "dry_run": True, "seed": 0, "questions": "tiny",
        "models": [
            {"name": "m1", "provider": "simulated", "simulated": {"strength": 1200}},
            {"name": "m2", "provider": "simulated", "simulated": {"strength": 1000}},
            {"name": "m3", "provider": "simulated", "simulated": {"strength": 800}},
        ],
        "judges": [{"name": "j", "provider": "simulated", "mode": "pairwise-all"}],
        "ratings": {"bootstrap": 50},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", "-c", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "Bradley-Terry ratings" in printed and "m1" in printed
    lb = pd.read_csv(out / "ratings" / "leaderboard.csv")
    assert lb["model"].tolist()[0] == "m1"
    assert (out / "ratings" / "summary.json").exists()


def test_single_grading_of_one_model_writes_scores_only(tmp_path):
    # One graded model yields no battles: no leaderboard, but the score table is written.
    run = tmp_path / "run"
    (run / "reviews").mkdir(parents=True)
    (run / "battles.jsonl").write_text("", encoding="utf-8")
    rows = [
        Review(judge="grader", template="single-rating", mode="single", question_id=q, turn=1, model_a="solo",
               model_b=None, first="solo", prompt_hash="h", raw="", status="ok", score=float(5 + q % 3))
        for q in range(12)
    ]
    (run / "reviews" / "grader.jsonl").write_text("".join(to_json(r) + "\n" for r in rows), encoding="utf-8")
    result = run_ratings(run, RatingConfig(bootstrap=20))
    assert result.leaderboard.empty
    names = {p.name for p in (run / "ratings").iterdir()}
    assert names == {"leaderboard.csv", "summary.json", "scores.csv"}
    scores = pd.read_csv(run / "ratings" / "scores.csv")
    assert scores.loc[0, "model"] == "solo" and scores.loc[0, "mean"] == pytest.approx(6.0)
    assert any("no battles" in s for s in result.summary["skipped"])
    assert "solo" in result.table_text()


def test_no_battles_and_no_grades_is_an_error(tmp_path):
    (tmp_path / "battles.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ArenaError, match="no battles to rate"):
        run_ratings(tmp_path, RatingConfig())
