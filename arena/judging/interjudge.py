"""How much a run's judges agree with each other, game by game: pairwise Cohen's kappa and
Fleiss' kappa over all of them (summary.json's `judge_agreement`, the dashboard's Judges view).

An item is one game (question, turn, pair and order; or one graded answer), so both orders of a
pair are two items, as each is a call of its own. A judge's label of a pairwise game is its
verdict in model terms (model_a, model_b or tie, "tie (bothbad)" a tie, five-level strong and
slight wins alike); of a graded answer, the score rounded to a whole point (nominal categories:
7 against 8 is a disagreement, as 1 against 10). Pairwise and single-grading judges are compared
within their kind only.

- Cohen's kappa of two judges on the games both gave a verdict on, with each judge's own
  marginal shares for chance agreement (arena.agreement.cohen_kappa).
- Fleiss' kappa (Fleiss, 1971) of all judges of a kind on the games every one of them gave a
  verdict on: P_i = (sum_j n_ij^2 - n) / (n (n - 1)) per game, p_j the pooled share of category
  j, kappa = (mean P_i - sum p_j^2) / (1 - sum p_j^2). With two judges it is Scott's pi (Cohen's
  kappa with pooled marginals).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from arena.agreement import cohen_kappa
from arena.records import OUTCOME_OF_WINNER, Review


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of a (items, categories) table of how many raters put each item in each
    category, every item rated by the same number (>= 2) of raters. NaN where it is undefined
    (no items, or every rating in one category)."""
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        return float("nan")
    raters = table.sum(axis=1)
    n = raters[0]
    if n < 2 or not np.allclose(raters, n):
        raise ValueError("every item needs the same number (>= 2) of ratings")
    p_item = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    shares = table.sum(axis=0) / table.sum()
    chance = float((shares**2).sum())
    if chance >= 1.0 - 1e-12:
        return float("nan")
    return (float(p_item.mean()) - chance) / (1.0 - chance)


def game_label(review: Review) -> str | None:
    """A review's verdict as a nominal label, or None where it has none."""
    if review.status != "ok":
        return None
    if review.model_b is None:
        return None if review.score is None else str(math.floor(review.score + 0.5))
    if review.winner not in OUTCOME_OF_WINNER:
        return None
    return "tie" if review.winner.startswith("tie") else review.winner


def judge_agreement(reviews_by_judge: dict[str, list[Review]]) -> dict[str, Any]:
    """Per kind (pairwise, single) with two judges or more: each pair's games, agreement and
    Cohen's kappa, and Fleiss' kappa over all of the kind's judges on their common games."""
    labels: dict[str, dict[str, dict[str, str]]] = {"pairwise": {}, "single": {}}
    for judge, reviews in reviews_by_judge.items():
        mine = {r.key: label for r in reviews if (label := game_label(r)) is not None}
        if not mine:
            continue
        kind = "single" if all(r.model_b is None for r in reviews) else "pairwise"
        labels[kind][judge] = mine
    out: dict[str, Any] = {}
    for kind, by_judge in labels.items():
        if len(by_judge) < 2:
            continue
        judges = sorted(by_judge)
        pairs = []
        for x, y in itertools.combinations(judges, 2):
            common = sorted(by_judge[x].keys() & by_judge[y].keys())
            lx = [by_judge[x][k] for k in common]
            ly = [by_judge[y][k] for k in common]
            agree = sum(a == b for a, b in zip(lx, ly))
            pairs.append({
                "judge_a": x, "judge_b": y, "games": len(common),
                "agreement": _round(agree / len(common)) if common else None,
                "kappa": _round(cohen_kappa(lx, ly)) if common else None,
            })
        everyone = set.intersection(*(set(by_judge[j]) for j in judges))
        categories = sorted({label for j in judges for label in by_judge[j].values()})
        index = {c: i for i, c in enumerate(categories)}
        table = np.zeros((len(everyone), len(categories)))
        for row, key in enumerate(sorted(everyone)):
            for j in judges:
                table[row, index[by_judge[j][key]]] += 1
        out[kind] = {
            "judges": judges,
            "pairs": pairs,
            "fleiss_games": len(everyone),
            "fleiss_kappa": _round(fleiss_kappa(table)) if len(everyone) else None,
            "categories": categories,
        }
    return out


def _round(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)
