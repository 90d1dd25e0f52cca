"""Battles aggregated into cells: the unit that Bradley-Terry fits and the bootstrap resamples.

A battle is (model_a, model_b, outcome, weight) with model indices, `outcome` model_a's score in
[0, 1] (1 win, 0.5 tie, 0 loss, fractional for graded verdicts) and `weight` a multiplier. It
counts `outcome * weight` as wins of model_a over model_b and `(1 - outcome) * weight` as wins of
model_b over model_a.

Bradley-Terry has no term for which side a model sat on, so a battle (a, b, x) and a battle
(b, a, 1 - x) are the same observation. `aggregate` therefore stores each battle with the lower
index first (`i < j`, score of `i`) and merges identical battles into one cell with a count:
the cost of everything downstream then grows with the number of distinct cells (at most three
per pair for win/tie/loss verdicts), not with the number of battles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Above this many possible (pair, verdict) codes the dense bincount path would allocate too much.
_DENSE_CODES = 4_000_000


@dataclass(frozen=True)
class Cells:
    """Distinct battles with their counts: battle `c` is model `i[c]` against `j[c]` (i < j),
    `i`'s score `score[c]`, weight `weight[c]`, seen `count[c]` times."""

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray
    weight: np.ndarray
    count: np.ndarray
    n_models: int

    @property
    def n_battles(self) -> int:
        return int(self.count.sum())

    def __len__(self) -> int:
        return len(self.count)


def aggregate(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    weight: np.ndarray | None = None,
) -> Cells:
    """Merge battles (integer model indices, model_a's outcome, optional weights) into cells.

    Raises ValueError on a battle of a model against itself or an outcome outside [0, 1]:
    callers validate user data first, so reaching this is a bug.
    """
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    x = np.asarray(outcome, dtype=np.float64)
    w = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    if not (len(a) == len(b) == len(x) == len(w)):
        raise ValueError("model_a, model_b, outcome and weight must have the same length")
    if np.any(a == b):
        raise ValueError("a battle of a model against itself cannot be rated")
    if np.any((x < 0) | (x > 1)) or np.any(~np.isfinite(x)):
        raise ValueError("outcomes must lie in [0, 1]")
    if np.any(~(w > 0)) or np.any(~np.isfinite(w)):
        raise ValueError("weights must be positive and finite")
    swap = a > b
    i = np.where(swap, b, a)
    j = np.where(swap, a, b)
    score = np.where(swap, 1.0 - x, x)
    verdict = score * 2.0
    if (
        np.all(w == 1.0)
        and np.all(verdict == np.round(verdict))
        and n_models * n_models * 3 <= _DENSE_CODES
    ):
        return _aggregate_verdicts(i, j, verdict.astype(np.int64), n_models)
    return _aggregate_general(i, j, score, w, n_models)


def _aggregate_verdicts(i: np.ndarray, j: np.ndarray, verdict: np.ndarray, n_models: int) -> Cells:
    # Win/tie/loss with unit weights: one bincount over (pair, verdict) codes, linear time.
    codes = (i * n_models + j) * 3 + verdict
    counts = np.bincount(codes, minlength=n_models * n_models * 3)
    (present,) = np.nonzero(counts)
    pair, verdict_of = np.divmod(present, 3)
    ci, cj = np.divmod(pair, n_models)
    return Cells(
        i=ci,
        j=cj,
        score=verdict_of / 2.0,
        weight=np.ones(len(present)),
        count=counts[present].astype(np.int64),
        n_models=n_models,
    )


def _aggregate_general(
    i: np.ndarray, j: np.ndarray, score: np.ndarray, w: np.ndarray, n_models: int
) -> Cells:
    # Fractional outcomes or weights: sort by (i, j, score, weight) and merge equal runs.
    if len(i) == 0:
        empty = np.zeros(0)
        return Cells(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty.astype(np.int64), n_models)
    order = np.lexsort((w, score, j, i))
    i, j, score, w = i[order], j[order], score[order], w[order]
    new = np.ones(len(i), dtype=bool)
    new[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1]) | (score[1:] != score[:-1]) | (w[1:] != w[:-1])
    starts = np.flatnonzero(new)
    count = np.diff(np.append(starts, len(i)))
    return Cells(i=i[starts], j=j[starts], score=score[starts], weight=w[starts], count=count, n_models=n_models)


def pair_totals(cells: Cells, count: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(wins, games) as dense matrices: wins[i, j] is i's weighted score against j, games[i, j]
    the weighted number of battles between i and j (symmetric). `count` overrides the cells'
    counts (a bootstrap draw)."""
    m = cells.n_models
    k = cells.count if count is None else count
    mass = k * cells.weight
    won = mass * cells.score
    upper = cells.i * m + cells.j
    lower = cells.j * m + cells.i
    wins = np.bincount(upper, weights=won, minlength=m * m) + np.bincount(
        lower, weights=mass - won, minlength=m * m
    )
    games = np.bincount(upper, weights=mass, minlength=m * m)
    games = games.reshape(m, m)
    return wins.reshape(m, m), games + games.T


def battle_counts(cells: Cells) -> np.ndarray:
    """Number of battles (unweighted) between each two models, as a symmetric matrix."""
    m = cells.n_models
    n = np.bincount(cells.i * m + cells.j, weights=cells.count, minlength=m * m).reshape(m, m)
    return (n + n.T).astype(np.int64)


def aggregate_groups(
    group: np.ndarray,
    n_groups: int,
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    weight: np.ndarray | None = None,
) -> list[Cells]:
    """`aggregate` for each group of battles at once (`group[k]` in 0..n_groups-1: battle k's
    category, judge or turn), in one pass over the log and without copying it per group; the
    cells use the log's model indices. Battles with a negative group are left out."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    x = np.asarray(outcome, dtype=np.float64)
    w = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    g = np.asarray(group, dtype=np.int64)
    swap = a > b
    i = np.where(swap, b, a)
    j = np.where(swap, a, b)
    score = np.where(swap, 1.0 - x, x)
    verdict = score * 2.0
    m = n_models
    if (
        np.all(w == 1.0)
        and np.all(verdict == np.round(verdict))
        and n_groups * m * m * 3 <= _DENSE_CODES
    ):
        codes = ((g * m + i) * m + j) * 3 + verdict.astype(np.int64)
        counts = np.bincount(codes[g >= 0], minlength=n_groups * m * m * 3)
        cells = []
        for k in range(n_groups):
            block = counts[k * m * m * 3 : (k + 1) * m * m * 3]
            (present,) = np.nonzero(block)
            pair, verdict_of = np.divmod(present, 3)
            ci, cj = np.divmod(pair, m)
            cells.append(Cells(ci, cj, verdict_of / 2.0, np.ones(len(present)), block[present].astype(np.int64), m))
        return cells
    keep = g >= 0
    order = np.lexsort((w[keep], score[keep], j[keep], i[keep], g[keep]))
    g, i, j, score, w = (v[keep][order] for v in (g, i, j, score, w))
    new = np.ones(len(i), dtype=bool)
    new[1:] = (g[1:] != g[:-1]) | (i[1:] != i[:-1]) | (j[1:] != j[:-1]) | (score[1:] != score[:-1]) | (w[1:] != w[:-1])
    starts = np.flatnonzero(new)
    count = np.diff(np.append(starts, len(i)))
    bounds = np.searchsorted(g[starts], np.arange(n_groups + 1))
    return [
        Cells(i[starts[lo:hi]], j[starts[lo:hi]], score[starts[lo:hi]], w[starts[lo:hi]], count[lo:hi], m)
        for lo, hi in zip(bounds[:-1], bounds[1:])
    ]


def restrict(cells: Cells) -> tuple[Cells, np.ndarray]:
    """The cells over the models that play in them, renumbered 0..k-1 in their order, and those
    models' indices in `cells` (a sub-leaderboard rates only the models of its battles)."""
    played = np.zeros(cells.n_models, dtype=bool)
    played[cells.i] = True
    played[cells.j] = True
    (present,) = np.nonzero(played)
    local = np.cumsum(played) - 1
    return Cells(local[cells.i], local[cells.j], cells.score, cells.weight, cells.count, len(present)), present
