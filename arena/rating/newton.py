"""Newton's method for many concave maximisations at once (stacked bootstrap rounds).

Each row of `params` is one problem. A row stops moving once its step is below `tol`; long steps
(far from the optimum, e.g. a fit from zero) are halved until the log-likelihood does not drop,
so the iteration cannot overshoot, while the usual short steps near the optimum skip that check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Steps longer than this (in log-odds units) are checked against the likelihood first.
TRUSTED_STEP = 1.0

# (row indices or a slice, their params) -> Newton steps, or log-likelihoods, of those rows.
StepFn = Callable[[np.ndarray | slice, np.ndarray], np.ndarray]


def maximise(
    params: np.ndarray,
    newton_step: StepFn,
    log_likelihood: StepFn,
    *,
    tol: float,
    max_iter: int,
    what: str,
) -> np.ndarray:
    """Iterate `params` (R, p) in place to each row's maximum; raises ArithmeticError naming
    `what` if some row has not converged after `max_iter` steps."""
    active = np.arange(len(params))
    for _ in range(max_iter):
        if len(active) == 0:
            return params
        # While every row is active, a slice lets callers index their data without copying it.
        rows = slice(None) if len(active) == len(params) else active
        step = newton_step(rows, params[rows])
        big = np.abs(step).max(axis=1) > TRUSTED_STEP
        if big.any():
            step[big] = _halve(active[big], params[active[big]], step[big], log_likelihood)
        params[active] += step
        active = active[np.abs(step).max(axis=1) >= tol]
    if len(active):
        raise ArithmeticError(f"{what} did not converge in {max_iter} Newton steps")
    return params


def _halve(rows: np.ndarray, params: np.ndarray, step: np.ndarray, log_likelihood: StepFn) -> np.ndarray:
    base = log_likelihood(rows, params)
    scale = np.ones(len(rows))
    pending = np.arange(len(rows))
    for _ in range(40):
        trial = log_likelihood(rows[pending], params[pending] + scale[pending, None] * step[pending])
        worse = trial < base[pending] - 1e-12 * np.abs(base[pending])
        pending = pending[worse]
        if len(pending) == 0:
            break
        scale[pending] *= 0.5
    return step * scale[:, None]
