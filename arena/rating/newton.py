"""Newton's method for many concave maximisations at once (stacked bootstrap rounds).

Each row of `params` is one problem. A row stops moving once its step is below `tol`; long steps
(far from the optimum, e.g. a fit from zero) are halved until the log-likelihood does not drop,
so the iteration cannot overshoot, while the usual short steps near the optimum skip that check.

With `predict`, a row stops once its next step would be below `tol`: near the optimum Newton's
steps shrink quadratically, s_next ~ C s^2 with C read off the last two steps (s / s_prev^2), so
a row whose step fell at least tenfold and predicts a next one below `tol` is within about `tol`
of its maximum a step earlier. Bootstrap refits from the full-data fit use it.
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
    predict: bool = False,
) -> np.ndarray:
    """Iterate `params` (R, p) in place to each row's maximum; raises ArithmeticError naming
    `what` if some row has not converged after `max_iter` steps."""
    active = np.arange(len(params))
    previous = np.full(len(params), np.nan)  # each row's last step size (NaN: none yet)
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
        size = np.abs(step).max(axis=1)
        done = size < tol
        if predict:
            last = previous[active]
            done |= (size <= 0.1 * last) & (size**3 < tol * last**2)
            previous[active] = size
        active = active[~done]
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
