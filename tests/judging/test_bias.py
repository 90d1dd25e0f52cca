"""The judge bias report: hand-made reviews and battles, synthetic position-biased games, and a
dry run whose simulated judges have known position and length biases that the report recovers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from arena.cli import main
from arena.judging.bias import (
    fit_position_bias,
    judge_bias,
    length_report,
    position_consistency,
    position_report,
    self_preference_report,
)
from arena.records import Answer, Battle, Review, Style
from arena.store import read_records


def _review(qid, a, b, first, winner, status="ok", turn=1) -> Review:
    return Review(judge="j", template="t", mode="pairwise-all", question_id=qid, turn=turn, model_a=a, model_b=b,
                  first=first, prompt_hash="", raw="", status=status, winner=None if status == "error" else winner)


def _battle(a, b, outcome, la=100, lb=100, judge="j", qid=1, weight=1.0) -> Battle:
    winner = "model_a" if outcome > 0.5 else "model_b" if outcome < 0.5 else "tie"
    return Battle(question_id=qid, category="", model_a=a, model_b=b, winner=winner, judge=judge, turn=1, outcome=outcome,
                  weight=weight, style_a=Style(chars=la), style_b=Style(chars=lb))


def test_position_figures_by_hand():
    reviews = [
        _review(1, "x", "y", "x", "model_a"), _review(1, "x", "y", "y", "model_b"),  # first wins twice: inconsistent
        _review(2, "x", "y", "x", "model_a"), _review(2, "x", "y", "y", "model_a"),  # x both times: consistent
        _review(3, "x", "y", "x", "tie"), _review(3, "x", "y", "y", "tie (bothbad)"),  # ties both times: consistent
        _review(4, "x", "y", "y", "model_a", status="error"),
    ]
    assert position_consistency(reviews) == (3, pytest.approx(2 / 3))
    report = position_report(reviews)
    # First-shown scores: 1, 1, 1, 0, 0.5, 0.5 (the error game does not count).
    assert report["games"] == 6
    assert report["first_score"] == pytest.approx(4 / 6, abs=1e-6)
    assert report["first_win_rate"] == pytest.approx(3 / 6, abs=1e-6)
    assert report["second_win_rate"] == pytest.approx(1 / 6, abs=1e-6)
    assert report["tie_rate"] == pytest.approx(2 / 6, abs=1e-6)
    unknown = position_report(reviews, known=False)
    assert unknown["known"] is False and unknown["first_score"] is None and unknown["games"] == 6


def test_parse_failures_and_tie_rate():
    reviews = [_review(1, "x", "y", "x", "tie"), _review(1, "x", "y", "y", "model_a"),
               _review(2, "x", "y", "x", None, status="error"), _review(2, "x", "y", "y", "model_b")]
    report = judge_bias("j", reviews, [])
    assert report["parse_failure_rate"] == 0.25 and report["errors"] == 1 and report["reviews"] == 4
    assert report["tie_rate"] == pytest.approx(1 / 3, abs=1e-6) and report["tie_rate_of"] == "games"
    single = [Review(judge="g", template="t", mode="single", question_id=1, turn=1, model_a=m, model_b=None, first=m,
                     prompt_hash="", raw="", status="ok", score=s) for m, s in (("x", 5.0), ("y", 5.0))]
    battles = [Battle(question_id=1, category="", model_a="x", model_b="y", winner="tie", judge="g", turn=1, outcome=0.5, mode="single")]
    report = judge_bias("g", single, battles)
    assert report["position"] is None and report["tie_rate"] == 1.0 and report["tie_rate_of"] == "battles"


def _simulated_games(strengths, bias_elo, n, seed, tie=0.2):
    """Games in both orders from the simulator's model: the first-shown answer's expected score
    is 1 / (1 + 10^(-(s_first - s_second + bias) / 400)), ties counted half."""
    rng = np.random.default_rng(seed)
    m = len(strengths)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    first = np.concatenate([a, b])
    second = np.concatenate([b, a])
    p = 1.0 / (1.0 + 10.0 ** (-(strengths[first] - strengths[second] + bias_elo) / 400.0))
    t = np.minimum(tie, 2 * np.minimum(p, 1 - p))
    u = rng.random(len(p))
    score = np.where(u < t, 0.5, np.where(rng.random(len(p)) < (p - t / 2) / (1 - t), 1.0, 0.0))
    return first, second, score


def test_fit_recovers_a_known_first_position_advantage():
    strengths = np.array([1150.0, 1050.0, 1000.0, 900.0])
    estimates = []
    for seed in range(3):
        first, second, score = _simulated_games(strengths, 80.0, 4000, seed)
        bias, se = fit_position_bias(first, second, score, 4)
        assert abs(bias - 80.0) < 3.5 * se, (bias, se)
        assert 2.0 < se < 8.0
        estimates.append(bias)
    assert abs(np.mean(estimates) - 80.0) < 6.0
    first, second, score = _simulated_games(strengths, -50.0, 4000, 9)
    assert fit_position_bias(first, second, score, 4)[0] == pytest.approx(-50.0, abs=15.0)


def test_fit_refuses_what_the_data_cannot_tell():
    # Always the same orientation: the position cannot be told from the first model's strength.
    assert fit_position_bias(np.zeros(50, int), np.ones(50, int), np.r_[np.ones(30), np.zeros(20)], 2) == (None, None)
    # The first answer always wins: no finite advantage.
    assert fit_position_bias(np.array([0, 1] * 10), np.array([1, 0] * 10), np.ones(20), 2) == (None, None)


def test_length_quartiles_by_hand():
    # Relative differences 0.0 (skipped), 0.2, 0.2, 0.5, 0.6; the longer side's scores 1, 0, 1, 1.
    battles = [
        _battle("x", "y", 1.0, 100, 100),
        _battle("x", "y", 1.0, 120, 80),
        _battle("x", "y", 1.0, 80, 120),
        _battle("x", "y", 0.0, 25, 75),
        _battle("x", "y", 0.75, 160, 40, weight=2.0),
    ]
    report = length_report(battles)
    assert report["battles"] == 4
    assert report["longer_score"] == pytest.approx((1 + 0 + 1 + 2 * 0.75) / 5, abs=1e-6)
    assert [q["battles"] for q in report["quartiles"]] == [1, 1, 1, 1]
    assert [q["longer_score"] for q in report["quartiles"]] == [1.0, 0.0, 1.0, 0.75]
    assert report["quartiles"][3]["rel_diff_min"] == 0.6
    assert length_report([_battle("x", "y", 1.0, 10, 10)]) is None


def test_self_preference_against_the_other_judges():
    families = {"gpt-a": "gpt", "gpt-b": "gpt", "claude": "claude", "llama": "llama"}
    battles = [
        _battle("gpt-a", "claude", 1.0, judge="gpt-judge", qid=1),
        _battle("claude", "gpt-b", 0.0, judge="gpt-judge", qid=2),   # own side (gpt-b) wins
        _battle("llama", "gpt-a", 0.5, judge="gpt-judge", qid=3),
        _battle("gpt-a", "gpt-b", 1.0, judge="gpt-judge", qid=4),   # both own: no information
        _battle("gpt-a", "claude", 0.0, judge="other", qid=1),
        _battle("gpt-b", "claude", 0.5, judge="other", qid=2),      # same pair, other orientation
    ]
    report = self_preference_report("gpt-judge", battles, "gpt", families)
    assert report["models"] == ["gpt-a", "gpt-b"] and report["battles"] == 3
    assert report["own_score"] == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-6)
    assert report["matched_battles"] == 2
    assert (report["own_score_matched"], report["other_judges_score"], report["delta"]) == (1.0, 0.25, 0.75)
    assert "no candidate is of the judge's family" in self_preference_report("gpt-judge", battles, "mistral", families)["not_computed"]
    assert "judges[].family" in self_preference_report("gpt-judge", battles, None, families)["not_computed"]


def _expected_first_score(run, judge, strengths, position_bias, length_bias):
    """The analytic expected score of the first-shown answer over the judge's valid games: the
    simulated judge's p_first (ties count half), from the latent strengths and the answer texts."""
    answers = {}
    for path in (run / "answers").glob("*.jsonl"):
        for a in read_records(path, Answer):
            answers[(path.stem, str(a.question_id))] = a
    expected = []
    for r in read_records(run / "reviews" / f"{judge}.jsonl", Review):
        if r.status != "ok":
            continue
        second = r.model_b if r.first == r.model_a else r.model_a
        diff = strengths[r.first] - strengths[second] + position_bias
        if length_bias:
            lf = len(answers[(r.first, str(r.question_id))].choices[0].turns[r.turn - 1])
            ls = len(answers[(second, str(r.question_id))].choices[0].turns[r.turn - 1])
            diff += length_bias * math.log2(lf / ls)
        expected.append(1.0 / (1.0 + 10.0 ** (-diff / 400.0)))
    return float(np.mean(expected))


STRENGTHS = {"m1": 1160, "m2": 1090, "m3": 1030, "m4": 970, "m5": 910, "m6": 840}
JUDGES = {  # name: (position bias in Elo, length bias in Elo per doubling)
    "plain": (60.0, 0.0),
    "far": (150.0, 0.0),
    "wordy": (0.0, 150.0),
}


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    import yaml

    folder = tmp_path_factory.mktemp("bias")
    config = {
        "name": "bias", "output_dir": str(folder / "run"), "dry_run": True, "seed": 3, "questions": "mt_bench",
        "models": [{"name": m, "provider": "simulated", "family": "acme" if m in ("m1", "m4") else None,
                    "simulated": {"strength": s}} for m, s in STRENGTHS.items()],
        "judges": [{"name": name, "provider": "simulated", "mode": "pairwise-all", "family": "acme" if name == "far" else None,
                    "simulated": {"position_bias": pb, "length_bias": lb, "tie_rate": 0.15}}
                   for name, (pb, lb) in JUDGES.items()],
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["run", "-c", str(path), "--stages", "answers,reviews"]) == 0
    run = folder / "run"
    return run, json.loads((run / "summary.json").read_text())["bias"]


@pytest.mark.parametrize("judge", list(JUDGES))
def test_dry_run_report_recovers_the_simulated_position_bias(dry_run, judge):
    run, bias = dry_run
    position_bias, length_bias = JUDGES[judge]
    report = bias[judge]
    assert report["parse_failure_rate"] == 0.0 and report["reviews"] == 80 * 2 * 15 * 2
    position = report["position"]
    assert position["known"] and position["pairs_both_orders"] == 80 * 2 * 15
    expected = _expected_first_score(run, judge, STRENGTHS, position_bias, length_bias)
    assert abs(position["first_score"] - expected) / expected < 0.03, (position["first_score"], expected)
    if not length_bias:
        # The fitted first-position advantage is the configured one, within its standard error.
        assert position["bias_elo_se"] < 8.0
        assert abs(position["bias_elo"] - position_bias) < 3 * position["bias_elo_se"], position


def test_dry_run_report_sees_length_bias_and_no_self_preference(dry_run):
    _, bias = dry_run
    wordy = bias["wordy"]["length"]["quartiles"]
    plain = bias["plain"]["length"]["quartiles"]
    # Preferring longer answers shows in the biggest length differences, not in the unbiased judge.
    assert wordy[3]["longer_score"] > 0.6 and wordy[3]["longer_score"] > wordy[0]["longer_score"] + 0.1
    assert abs(plain[3]["longer_score"] - 0.5) < 0.07
    # The simulator has no self-preference: its own family's score matches the other judges'.
    own = bias["far"]["self_preference"]
    assert own["models"] == ["m1", "m4"] and own["matched_battles"] == own["battles"] == 80 * 2 * 8
    assert abs(own["delta"]) < 0.05
    assert "not_computed" in bias["plain"]["self_preference"]
