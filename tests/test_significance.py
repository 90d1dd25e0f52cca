"""`arena compare`, `p_vs_next` and `arena power`: hand-computed figures, agreement between the
three, calibration of the p-value, and the command lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from arena.cli import main
from arena.config import RatingConfig
from arena.errors import DataError
from arena.leaderboard import compute_ratings
from arena.rating.bootstrap import bootstrap_bt
from arena.rating.bt import fit_bt
from arena.rating.counts import aggregate, pair_totals
from arena.rating.paired import difference, question_bootstrap_bt, question_sums, questions_needed
from arena.significance import compare_models, power_analysis, score_differences

from .conftest import base_config


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Battles (question_id, model_a, model_b, outcome) as the readers lay them out."""
    q, a, b, x = zip(*rows)
    return pd.DataFrame({
        "model_a": a, "model_b": b, "outcome": np.array(x, dtype=float), "weight": 1.0,
        "winner": ["model_a" if v == 1 else "model_b" if v == 0 else "tie" for v in x],
        "judge": "j", "turn": 1, "category": "c", "question_id": [str(v) for v in q], "tstamp": np.nan,
    })


def simulated(seed: int, questions: int = 40, spread: float = 0.0) -> pd.DataFrame:
    """Pairwise-all over four models (b and c of equal strength), two turns per question; each
    model's strength moves per question by a N(0, spread) draw shared by both turns and every
    opponent, the correlation that makes battles of one question one unit of evidence."""
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c", "d"]
    strength = np.array([0.5, 0.0, 0.0, -0.5])
    rows = []
    for q in range(questions):
        s = strength + rng.normal(0.0, spread, 4)
        for _turn in (1, 2):
            for i in range(4):
                for j in range(i + 1, 4):
                    rows.append((q, names[i], names[j], float(rng.random() < expit(s[i] - s[j]))))
    return frame(rows)


def test_compare_direct_score_and_gap_by_hand():
    # a beat b on questions 1 and 2, tied on 3, lost on 4: 2.5 of 4 points; c links both.
    rows = [(1, "a", "b", 1.0), (2, "b", "a", 0.0), (3, "a", "b", 0.5), (4, "a", "b", 0.0),
            (1, "a", "c", 1.0), (2, "c", "a", 1.0), (3, "b", "c", 1.0), (4, "c", "b", 1.0)]
    result = compare_models(frame(rows), "a", "b", rounds=200, seed=0)
    assert result.direct_battles == 4
    assert result.direct_score.value == pytest.approx(2.5 / 4)
    assert result.shared_questions == 4 and result.n_questions == 4
    assert result.gap.value == pytest.approx(result.rating_a - result.rating_b)
    assert result.win_probability == pytest.approx(1 / (1 + 10 ** (-result.gap.value / 400)))
    assert result.gap.low <= result.gap.value <= result.gap.high
    assert result.win_low <= result.win_probability <= result.win_high
    # Swapping the two mirrors every figure.
    swapped = compare_models(frame(rows), "b", "a", rounds=200, seed=0)
    assert swapped.gap.value == pytest.approx(-result.gap.value)
    assert swapped.gap.p_value == pytest.approx(result.gap.p_value)
    assert swapped.direct_score.value == pytest.approx(1 - result.direct_score.value)


def test_compare_refuses_what_it_cannot_compare():
    battles = simulated(0, 10)
    with pytest.raises(DataError, match="'b' twice"):
        compare_models(battles, "b", "b")
    with pytest.raises(DataError, match="zeta not in these battles"):
        compare_models(battles, "a", "zeta")


def test_gap_and_p_value_equal_the_leaderboards_p_vs_next():
    battles = simulated(3, 30)
    result = compute_ratings(battles, RatingConfig(bootstrap=300, seed=4, style_control=False, workers=1))
    board = result.leaderboard
    assert "p_vs_next" in board and math.isnan(board["p_vs_next"].iloc[-1])
    for k in range(len(board) - 1):
        first, second = board["model"].iloc[k], board["model"].iloc[k + 1]
        pair = compare_models(battles, first, second, rounds=300, seed=4, workers=1)
        assert pair.gap.p_value == pytest.approx(board["p_vs_next"].iloc[k])
        assert pair.gap.value == pytest.approx(board["rating"].iloc[k] - board["rating"].iloc[k + 1])
    assert any("p_vs_next: paired bootstrap over 30 questions" in n for n in result.summary["notes"])


def test_one_battle_per_question_uses_the_leaderboards_own_rounds():
    battles = simulated(1, 30)
    battles["question_id"] = [str(k) for k in range(len(battles))]
    result = compute_ratings(battles, RatingConfig(bootstrap=200, seed=2, style_control=False, workers=1))
    board = result.leaderboard
    pair = compare_models(battles, board["model"].iloc[0], board["model"].iloc[1], rounds=200, seed=2)
    assert pair.gap.p_value == pytest.approx(board["p_vs_next"].iloc[0])
    assert "one per question" in pair.unit


def test_no_p_vs_next_without_bootstrap_or_bradley_terry():
    battles = simulated(1, 10)
    assert "p_vs_next" not in compute_ratings(battles, RatingConfig(bootstrap=0, style_control=False)).leaderboard
    assert "p_vs_next" not in compute_ratings(battles, RatingConfig(methods=["elo"], bootstrap=20, style_control=False)).leaderboard


@pytest.mark.slow
def test_p_values_are_calibrated_where_questions_correlate_battles():
    """Models b and c are equally strong: p < 0.05 should happen in about 5% of replications.
    Each question's battles share a draw of every model's strength, so they are not independent:
    the battle bootstrap takes them as independent and rejects far too often; the question
    bootstrap must not."""
    rounds, replications = 200, 200
    paired_rejects = battle_rejects = 0
    for seed in range(replications):
        battles = simulated(1000 + seed, questions=40, spread=1.5)
        a = battles["model_a"].map({"a": 0, "b": 1, "c": 2, "d": 3}).to_numpy()
        b = battles["model_b"].map({"a": 0, "b": 1, "c": 2, "d": 3}).to_numpy()
        x = battles["outcome"].to_numpy()
        q = battles["question_id"].astype(int).to_numpy()
        cells = aggregate(a, b, x, 4)
        theta = fit_bt(pair_totals(cells)[0])
        gap = theta[1] - theta[2]
        paired, _ = question_bootstrap_bt(question_sums(q, a, b, x, 4), rounds, seed, start=theta)
        battle, _ = bootstrap_bt(cells, rounds, seed, start=theta)
        paired_rejects += difference(gap, paired[:, 1] - paired[:, 2]).p_value < 0.05
        battle_rejects += difference(gap, battle[:, 1] - battle[:, 2]).p_value < 0.05
    paired_rate, battle_rate = paired_rejects / replications, battle_rejects / replications
    print(f"false positives: paired {paired_rate:.3f}, battle {battle_rate:.3f}")
    assert paired_rate <= 0.10, (paired_rate, battle_rate)
    assert battle_rate >= paired_rate + 0.08, (paired_rate, battle_rate)


def test_score_differences_by_hand():
    scores = pd.DataFrame(
        [("g", "a", "1", 1, 8.0), ("g", "a", "1", 2, 6.0), ("g", "b", "1", 1, 5.0), ("g", "b", "1", 2, 5.0),
         ("g", "a", "2", 1, 7.0), ("g", "b", "2", 1, 9.0), ("g", "b", "2", 2, 9.0),  # a not graded on turn 2
         ("g", "a", "3", 1, 4.0)],  # b never graded on question 3
        columns=["judge", "model", "question_id", "turn", "score"],
    )
    (result,) = score_differences(scores, "a", "b", 500, 0)
    # Question 1: a's mean 7, b's 5 (+2); question 2 over the turn both have: 7 vs 9 (-2).
    assert result.n_questions == 2
    assert (result.mean_a, result.mean_b) == (7.0, 7.0)
    assert result.difference.value == 0.0


def test_power_names_more_questions_for_smaller_gaps_and_matches_its_formula():
    battles = simulated(7, 60)
    report = power_analysis(battles, gaps=(20.0, 50.0, 100.0), rounds=100, seed=0, workers=1)
    assert report.sizes == [30, 60, 120] and len(report.pairs) == 3
    for g in report.gaps:
        assert len(report.needed[g]) == 3
    median = [np.median(report.needed[g]) for g in report.gaps]
    assert median[0] > median[1] > median[2]
    # The questions needed follow from each pair's fitted scale: (z * scale / gap) ** 2, rounded up.
    for p, pp in enumerate(report.pairs):
        for g in report.gaps:
            assert report.needed[g][p] == questions_needed(pp.scale, g)
        assert report.needed[20.0][p] == pytest.approx(25 * (report.needed[100.0][p] - 0.5), rel=0.2)
    for pp in report.pairs:
        assert -0.8 < pp.exponent < -0.25, pp
    named = power_analysis(battles, models=("b", "c"), rounds=100, seed=0, workers=1)
    assert [(p.model_a, p.model_b) for p in named.pairs] == [("b", "c")]


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory):
    """A dry run: two models of equal latent strength, one stronger and one weaker; a pairwise
    judge and a single-grading judge."""
    out = tmp_path_factory.mktemp("twins") / "run"
    config = base_config(
        out, questions="mt_bench",
        models=[{"name": n, "provider": "simulated", "simulated": {"strength": s}}
                for n, s in (("top", 1150), ("twin-a", 1000), ("twin-b", 1000), ("low", 850))],
        judges=[{"name": "pj", "provider": "simulated", "mode": "pairwise-all"},
                {"name": "grader", "provider": "simulated", "mode": "single"}],
        ratings={"bootstrap": 200, "seed": 0},
    )
    config["stages"] = ["answers", "reviews", "ratings"]
    path = out.parent / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", "-c", str(path)]) == 0
    return out


def test_compare_command_on_a_run(twin_run, capsys):
    assert main(["compare", str(twin_run), "--models", "top", "low", "--judge", "pj", "--rounds", "300"]) == 0
    text = capsys.readouterr().out
    assert "rating gap top - low" in text and "separated by these questions" in text
    assert "paired bootstrap over 80 questions" in text
    assert main(["compare", str(twin_run), "--models", "twin-a", "twin-b", "--rounds", "300", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["judges"] == ["grader", "pj"] and data["n_questions"] == 80
    assert data["gap"]["low"] <= data["gap"]["value"] <= data["gap"]["high"]
    (single,) = data["scores"]
    assert single["judge"] == "grader" and single["n_questions"] == 80


def test_compare_and_power_commands_fail_in_one_line(twin_run, capsys):
    assert main(["compare", str(twin_run), "--models", "top", "nobody"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nobody not in these battles" in err
    assert main(["compare", str(twin_run), "--models", "top", "low", "--judge", "zz"]) == 2
    assert "--judge: no battles by zz" in capsys.readouterr().err
    assert main(["power", str(twin_run), "--gaps", "-5"]) == 2
    assert "--gaps" in capsys.readouterr().err
    assert main(["compare", str(twin_run / "nothing.jsonl"), "--models", "a", "b"]) == 2


def test_power_command_and_leaderboard_column(twin_run, capsys):
    assert main(["power", str(twin_run), "--judge", "pj", "--rounds", "60"]) == 0
    text = capsys.readouterr().out
    assert "questions needed" in text and "3 pairs of models adjacent" in text
    board = pd.read_csv(twin_run / "ratings" / "leaderboard.csv")
    assert board["p_vs_next"].iloc[:-1].between(0, 1).all() and math.isnan(board["p_vs_next"].iloc[-1])
