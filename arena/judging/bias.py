"""The judge bias report: how far a judge's verdicts follow things other than answer quality.

Pure functions over one run's records (no I/O); `arena.stages.bias` reads the files and writes
the report into summary.json. Per judge (docs/BIAS.md lists every field):

- parse failures: the share of judge calls recorded without a verdict (status "error").
- position (pairwise judges whose shown order is known): the first-shown answer's win rate and
  mean score (a win 1, a tie 0.5), consistency (the share of pairs judged in both orders whose
  two verdicts, in model terms, agree) and the first-position advantage in Elo points, fitted as
  P(first wins) = sigmoid(theta_first - theta_second + beta): Bradley-Terry with a first-position
  term (ties half a win), so the candidates' strengths do not leak into the estimate. That is the
  dry-run judge's own model, so a dry run must recover its configured `position_bias`.
- ties: the share of the judge's verdicts that are ties (judge calls; for single grading, the
  pairs of equal grades that make its battles).
- length: the longer answer's mean score in the judge's battles, overall and by quartile of the
  relative length difference |len_a - len_b| / (len_a + len_b) in characters. Longer answers are
  often better too, so read it beside the style-controlled ratings, not as bias on its own.
- self-preference (where the judge's family is among the candidates' families): the mean score
  of the judge's own-family candidates against other families, beside the same battles as the
  run's other judges scored them (the difference is the self-preference).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.special import expit

from arena.rating.bt import ELO_PER_UNIT, VIRTUAL_TIES, strongly_connected
from arena.rating.style import fit_bt_style, independent_covariates
from arena.records import OUTCOME_OF_WINNER, Battle, Review

_DIGITS = 6


def _round(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), _DIGITS)


def _is_tie(winner: str | None) -> bool:
    return winner is not None and winner.startswith("tie")


def first_scores(reviews: Iterable[Review]) -> list[tuple[Review, float]]:
    """(review, score of the answer shown first) for every pairwise review with a verdict."""
    out = []
    for r in reviews:
        if r.status != "ok" or r.model_b is None or r.winner is None:
            continue
        score_a = OUTCOME_OF_WINNER[r.winner]
        out.append((r, score_a if r.first == r.model_a else 1.0 - score_a))
    return out


def position_consistency(reviews: Iterable[Review]) -> tuple[int, float | None]:
    """(pairs judged in both orders, share of them whose two verdicts agree in model terms)."""
    games: dict[tuple, dict[str, str]] = defaultdict(dict)
    for r in reviews:
        if r.status == "ok" and r.model_b is not None and r.winner is not None:
            games[(str(r.question_id), r.turn, r.model_a, r.model_b)][r.first] = "tie" if _is_tie(r.winner) else r.winner
    both = [g for g in games.values() if len(g) == 2]
    if not both:
        return 0, None
    agree = sum(len(set(g.values())) == 1 for g in both)
    return len(both), agree / len(both)


def fit_position_bias(first: np.ndarray, second: np.ndarray, score: np.ndarray, n_models: int) -> tuple[float | None, float | None]:
    """First-position advantage (Elo points) and its standard error, from games between model
    indices `first` (shown first) and `second` with the first's score in [0, 1].

    Bradley-Terry with one extra term for the first position, fitted by maximum likelihood with
    ties as half a win (quasi-likelihood: consistent whenever the expected score follows the
    model, as the simulated judge's does). The standard error is the sandwich estimate, which
    stays right when ties make the scores less variable than wins and losses. None, None where
    the data cannot separate the position from the models (every game in one orientation) or
    the judge always picked the same position (no finite estimate)."""
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    y = np.asarray(score, dtype=np.float64)
    if len(y) == 0 or np.all(y == 1.0) or np.all(y == 0.0):
        return None, None
    m = n_models
    ones = np.ones((len(y), 1))
    if not independent_covariates(first, second, ones, m)[0]:
        return None, None
    wins = np.bincount(first * m + second, y, m * m) + np.bincount(second * m + first, 1.0 - y, m * m)
    prior = 0.0 if strongly_connected(wins.reshape(m, m)) else VIRTUAL_TIES
    try:
        theta, beta = fit_bt_style(first, second, y, ones, m, prior=prior)
    except (ArithmeticError, np.linalg.LinAlgError):
        return None, None
    p = expit(theta[first] - theta[second] + beta[0])
    bread = _information(first, second, p * (1.0 - p), m)
    meat = _information(first, second, (y - p) ** 2, m)
    inverse = np.linalg.pinv(bread)
    variance = (inverse @ meat @ inverse)[m, m]
    se = math.sqrt(variance) * ELO_PER_UNIT if variance >= 0 else None
    return float(beta[0] * ELO_PER_UNIT), se


def _information(first: np.ndarray, second: np.ndarray, w: np.ndarray, m: int) -> np.ndarray:
    """sum_g w_g x_g x_g^T for the design rows x = e_first - e_second plus a 1 for the bias."""
    pair = np.bincount(first * m + second, w, m * m).reshape(m, m)
    out = np.zeros((m + 1, m + 1))
    out[:m, :m] = np.diag(pair.sum(axis=1) + pair.sum(axis=0)) - pair - pair.T
    column = np.bincount(first, w, m) - np.bincount(second, w, m)
    out[:m, m] = column
    out[m, :m] = column
    out[m, m] = w.sum()
    return out


def position_report(reviews: list[Review], *, known: bool = True) -> dict[str, Any]:
    """The position part of the report (see the module docstring)."""
    scored = first_scores(reviews)
    report: dict[str, Any] = {
        "known": known, "games": len(scored), "first_win_rate": None, "second_win_rate": None,
        "tie_rate": None, "first_score": None, "pairs_both_orders": 0, "consistency": None,
        "bias_elo": None, "bias_elo_se": None,
    }
    if not known or not scored:
        return report
    scores = np.array([s for _, s in scored])
    ties = np.array([_is_tie(r.winner) for r, _ in scored])
    pairs, consistency = position_consistency(reviews)
    names = sorted({r.first for r, _ in scored} | {r.model_b if r.first == r.model_a else r.model_a for r, _ in scored})  # type: ignore[misc]
    index = {name: i for i, name in enumerate(names)}
    first = np.array([index[r.first] for r, _ in scored])
    second = np.array([index[r.model_b if r.first == r.model_a else r.model_a] for r, _ in scored])  # type: ignore[index]
    bias, se = fit_position_bias(first, second, scores, len(names))
    report.update(
        first_win_rate=_round(float(np.mean((scores == 1.0) & ~ties))),
        second_win_rate=_round(float(np.mean((scores == 0.0) & ~ties))),
        tie_rate=_round(float(ties.mean())),
        first_score=_round(float(scores.mean())),
        pairs_both_orders=pairs,
        consistency=_round(consistency),
        bias_elo=_round(bias),
        bias_elo_se=_round(se),
    )
    return report


def length_report(battles: list[Battle]) -> dict[str, Any] | None:
    """The longer answer's mean score (battle weights applied), overall and by quartile of the
    relative length difference; None without two answers of different length."""
    rel, score, weight = [], [], []
    for b in battles:
        if b.style_a is None or b.style_b is None:
            continue
        la, lb = b.style_a.chars, b.style_b.chars
        if la == lb:
            continue
        rel.append(abs(la - lb) / (la + lb))
        score.append(b.outcome if la > lb else 1.0 - b.outcome)
        weight.append(b.weight)
    if not rel:
        return None
    rel_a, score_a, weight_a = np.array(rel), np.array(score), np.array(weight)
    order = np.argsort(rel_a, kind="stable")
    quartiles = []
    # Quartiles by rank (equal counts), so ties in the length difference cannot empty a bin.
    for q, chunk in enumerate(np.array_split(order, 4), start=1):
        if len(chunk) == 0:
            continue
        quartiles.append({
            "quartile": q,
            "rel_diff_min": _round(float(rel_a[chunk].min())),
            "rel_diff_max": _round(float(rel_a[chunk].max())),
            "battles": len(chunk),
            "longer_score": _round(float(np.average(score_a[chunk], weights=weight_a[chunk]))),
        })
    return {
        "measure": "chars",
        "battles": len(rel),
        "longer_score": _round(float(np.average(score_a, weights=weight_a))),
        "quartiles": quartiles,
    }


def _battle_key(b: Battle) -> tuple:
    return (str(b.question_id), b.turn, frozenset((b.model_a, b.model_b)))


def _own_score(b: Battle, own: set[str]) -> float | None:
    """The own-family side's score, for a battle with exactly one own-family side."""
    a_own, b_own = b.model_a in own, b.model_b in own
    if a_own == b_own:
        return None
    return b.outcome if a_own else 1.0 - b.outcome


def self_preference_report(
    judge: str, battles: list[Battle], judge_family: str | None, model_families: dict[str, str | None]
) -> dict[str, Any] | None:
    """Own-family candidates' mean score under `judge`, and under the run's other judges on the
    same battles (same question, turn and pair). Where it cannot be computed, the report says why
    (`not_computed`) instead of being silently empty."""
    if not judge_family:
        return {"not_computed": "the judge's family is unknown: set judges[].family (and models[].family)"}
    own = {m for m, f in model_families.items() if f == judge_family}
    if not own:
        return {"family": judge_family, "not_computed": f"no candidate is of the judge's family {judge_family!r}"}
    mine = [(b, s) for b in battles if b.judge == judge and (s := _own_score(b, own)) is not None]
    if not mine:
        return {"family": judge_family, "models": sorted(own),
                "not_computed": "no battle of this judge sets an own-family candidate against another family"}
    others: dict[tuple, list[float]] = defaultdict(list)
    for b in battles:
        if b.judge != judge and (s := _own_score(b, own)) is not None:
            others[_battle_key(b)].append(s)
    matched = [(s, float(np.mean(others[_battle_key(b)]))) for b, s in mine if _battle_key(b) in others]
    report: dict[str, Any] = {
        "family": judge_family,
        "models": sorted(own),
        "battles": len(mine),
        "own_score": _round(float(np.mean([s for _, s in mine]))),
        "matched_battles": len(matched),
        "own_score_matched": None,
        "other_judges_score": None,
        "delta": None,
    }
    if matched:
        here, there = float(np.mean([m[0] for m in matched])), float(np.mean([m[1] for m in matched]))
        report.update(own_score_matched=_round(here), other_judges_score=_round(there), delta=_round(here - there))
    return report


def judge_bias(
    judge: str,
    reviews: list[Review],
    battles: list[Battle],
    *,
    position_known: bool = True,
    judge_family: str | None = None,
    model_families: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The bias report of one judge. `battles` may hold every judge's battles (the others are
    the reference for self-preference)."""
    mine = [b for b in battles if b.judge == judge]
    errors = sum(r.status == "error" for r in reviews)
    single = bool(reviews) and all(r.model_b is None for r in reviews)
    mode = reviews[0].mode if reviews else (mine[0].mode if mine else "")
    if single:
        position = None
        tie_rate = sum(_is_tie(b.winner) for b in mine) / len(mine) if mine else None
        tie_basis = "battles"
    else:
        position = position_report(reviews, known=position_known)
        scored = first_scores(reviews)
        tie_rate = sum(_is_tie(r.winner) for r, _ in scored) / len(scored) if scored else None
        tie_basis = "games"
    return {
        "mode": mode,
        "reviews": len(reviews),
        "errors": errors,
        "parse_failure_rate": _round(errors / len(reviews)) if reviews else None,
        "tie_rate": _round(tie_rate),
        "tie_rate_of": tie_basis,
        "position": position,
        "length": length_report(mine),
        "self_preference": self_preference_report(judge, battles, judge_family, model_families or {}),
    }


def bias_reports(
    reviews_by_judge: dict[str, list[Review]],
    battles: list[Battle],
    *,
    position_known: dict[str, bool] | None = None,
    judge_families: dict[str, str | None] | None = None,
    model_families: dict[str, str | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every judge's report, by judge name."""
    position_known = position_known or {}
    judge_families = judge_families or {}
    return {
        judge: judge_bias(
            judge, reviews, battles,
            position_known=position_known.get(judge, True),
            judge_family=judge_families.get(judge),
            model_families=model_families,
        )
        for judge, reviews in reviews_by_judge.items()
    }

