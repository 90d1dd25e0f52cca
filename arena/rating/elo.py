"""Online Elo, as Chatbot Arena's first leaderboard computed it.

Battles are replayed in order; each moves both ratings by K times the surprise:

    expected_a = 1 / (1 + BASE ** ((R_b - R_a) / SCALE))
    R_a += K * weight * (outcome - expected_a);  R_b -= the same amount

starting every model at INITIAL. The result depends on the order of the battles (recent ones
count more), which is why Bradley-Terry is the leaderboard's main rating and Elo sits beside it.
"""

from __future__ import annotations

import numpy as np

from arena.rating.bt import BASE, INITIAL, SCALE


def online_elo(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    *,
    k: float = 4.0,
    weight: np.ndarray | None = None,
    scale: float = SCALE,
    base: float = BASE,
    initial: float = INITIAL,
) -> np.ndarray:
    """Ratings (n_models,) after replaying the battles in the order given."""
    ratings = [float(initial)] * n_models
    weights = [1.0] * len(outcome) if weight is None else np.asarray(weight, dtype=float).tolist()
    # Plain Python floats: one battle at a time, numpy scalars would only add overhead.
    for a, b, x, w in zip(
        np.asarray(model_a).tolist(), np.asarray(model_b).tolist(), np.asarray(outcome, dtype=float).tolist(), weights
    ):
        expected = 1.0 / (1.0 + base ** ((ratings[b] - ratings[a]) / scale))
        delta = k * w * (x - expected)
        ratings[a] += delta
        ratings[b] -= delta
    return np.array(ratings)


def online_elo_rounds(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    picks: np.ndarray,
    *,
    ratings: np.ndarray | None = None,
    k: float = 4.0,
    weight: np.ndarray | None = None,
    scale: float = SCALE,
    base: float = BASE,
    initial: float = INITIAL,
) -> np.ndarray:
    """Online Elo for many replays at once: row r of `picks` (R, T) lists the battle indices
    replayed in round r, in order (a bootstrap resample). Returns (R, n_models). `ratings`
    (R, n_models) continues replays from where an earlier block of picks left them."""
    a = np.asarray(model_a)
    b = np.asarray(model_b)
    x = np.asarray(outcome, dtype=float)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=float)
    rounds = picks.shape[0]
    ratings = np.full((rounds, n_models), float(initial)) if ratings is None else np.array(ratings, dtype=float)
    rows = np.arange(rounds)
    for step in range(picks.shape[1]):
        battle = picks[:, step]
        ia, ib = a[battle], b[battle]
        ra, rb = ratings[rows, ia], ratings[rows, ib]
        delta = k * w[battle] * (x[battle] - 1.0 / (1.0 + base ** ((rb - ra) / scale)))
        ratings[rows, ia] = ra + delta
        ratings[rows, ib] = rb - delta
    return ratings
