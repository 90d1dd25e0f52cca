"""Descriptive tables beside the ratings: observed win rates, battle counts, rank spread, and each
model's record (wins, losses, draws, win rate with its standard error).

A battle's outcome is model_a's score; model_b's is 1 - outcome. A "win" is a score above 0.5,
a "loss" below, a "draw" exactly 0.5: for graded verdicts (fractional outcomes) that is the
discrete record, while the win rate is the mean score itself, weighted by the battles' weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.rating.counts import Cells, pair_totals


def win_rate_matrix(cells: Cells) -> np.ndarray:
    """Observed mean score of the row model against the column model (NaN where they never met)."""
    wins, games = pair_totals(cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(games > 0, wins / np.where(games > 0, games, 1.0), np.nan)


def rank_spread(rating: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank, best, worst) per model, 1 = top: `rank` orders by rating; `best` is one plus the
    number of models whose interval lies wholly above this one's, `worst` the number of models
    minus those whose interval lies wholly below: the ranks the model could hold given the
    intervals (Chatbot Arena's upper-bound rank is `best`). A model without an interval (NaN,
    no bootstrap) counts as the point of its rating."""
    rating = np.asarray(rating, dtype=np.float64)
    low = np.where(np.isnan(low), rating, np.asarray(low, dtype=np.float64))
    high = np.where(np.isnan(high), rating, np.asarray(high, dtype=np.float64))
    # Ratings equal to a millionth of a point are ties (models with the same record against the
    # same opponents), ranked by their order here (model names), not by rounding noise.
    order = np.argsort(-np.round(rating, 6), kind="stable")
    rank = np.empty(len(rating), dtype=np.int64)
    rank[order] = np.arange(1, len(rating) + 1)
    best = 1 + (low[None, :] > high[:, None]).sum(axis=1)
    worst = len(rating) - (high[None, :] < low[:, None]).sum(axis=1)
    return rank, best, worst


@dataclass(frozen=True)
class Record:
    """Per-group battle record (a group is a model, or a model against one opponent)."""

    n_battles: np.ndarray
    n_wins: np.ndarray
    n_losses: np.ndarray
    n_draws: np.ndarray
    win_rate: np.ndarray
    win_rate_se: np.ndarray


def records(
    group: np.ndarray, score: np.ndarray, weight: np.ndarray, n_groups: int, count: np.ndarray | None = None
) -> Record:
    """The record of each group from its battles' scores (the group's own score in [0, 1]).

    `win_rate` is the weighted mean score; `win_rate_se` its standard error
    sqrt(sum w^2 (x - mean)^2) / sum(w) * sqrt(n / (n - 1)), which for unit weights is the sample
    standard deviation over sqrt(n) (AlpacaEval's published `standard_error`). NaN where a group
    has no battles (or one, for the standard error). With `count`, entry k stands for count[k]
    identical battles (cells, see arena.rating.counts)."""
    g = np.asarray(group, dtype=np.int64)
    x = np.asarray(score, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    k = np.ones(len(g), dtype=np.int64) if count is None else np.asarray(count, dtype=np.int64)

    def tally(where: np.ndarray) -> np.ndarray:
        return np.bincount(g[where], weights=k[where], minlength=n_groups).astype(np.int64)

    n = np.bincount(g, weights=k, minlength=n_groups).astype(np.int64)
    wins, losses, draws = tally(x > 0.5), tally(x < 0.5), tally(x == 0.5)
    total = np.bincount(g, weights=w * k, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, weights=w * x * k, minlength=n_groups) / total
        spread = np.bincount(g, weights=k * (w * (x - mean[g])) ** 2, minlength=n_groups)
        se = np.sqrt(spread) / total * np.sqrt(n / (n - 1.0))
    se = np.where(n > 1, se, np.nan)
    return Record(n_battles=n, n_wins=wins, n_losses=losses, n_draws=draws, win_rate=mean, win_rate_se=se)


def model_records(
    model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, n_models: int, weight: np.ndarray | None = None
) -> Record:
    """Each model's record over all its battles, from its own side of each battle."""
    x = np.asarray(outcome, dtype=np.float64)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64)
    group = np.concatenate([np.asarray(model_a), np.asarray(model_b)])
    return records(group, np.concatenate([x, 1.0 - x]), np.concatenate([w, w]), n_models)


def pair_records(
    model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, n_models: int, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, Record]:
    """Head-to-head records: (model, opponent, record) for every ordered pair that met, each
    battle counted from both sides, rows sorted by model then opponent."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    x = np.asarray(outcome, dtype=np.float64)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64)
    own = np.concatenate([a, b])
    other = np.concatenate([b, a])
    codes, group = np.unique(own * n_models + other, return_inverse=True)
    rec = records(group, np.concatenate([x, 1.0 - x]), np.concatenate([w, w]), len(codes))
    model, opponent = np.divmod(codes, n_models)
    return model, opponent, rec


def cell_records(cells: Cells) -> Record:
    """`model_records` from cells: each model's record over all its battles."""
    group = np.concatenate([cells.i, cells.j])
    score = np.concatenate([cells.score, 1.0 - cells.score])
    return records(group, score, np.tile(cells.weight, 2), cells.n_models, np.tile(cells.count, 2))


def cell_pair_records(cells: Cells) -> tuple[np.ndarray, np.ndarray, Record]:
    """`pair_records` from cells: (model, opponent, record) for every ordered pair that met."""
    m = cells.n_models
    own = np.concatenate([cells.i, cells.j])
    other = np.concatenate([cells.j, cells.i])
    codes, group = np.unique(own * m + other, return_inverse=True)
    score = np.concatenate([cells.score, 1.0 - cells.score])
    rec = records(group, score, np.tile(cells.weight, 2), len(codes), np.tile(cells.count, 2))
    model, opponent = np.divmod(codes, m)
    return model, opponent, rec
