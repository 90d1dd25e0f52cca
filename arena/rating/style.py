"""Style control: Bradley-Terry with answer style as covariates (Chatbot Arena, arena-hard-auto).

Judges (and people) favour longer, more formatted answers. Style control fits

    P(a beats b) = sigmoid(theta_a - theta_b + beta . z)

per battle, where z holds the style differences of the two answers: length (tokens where every
answer has a token count, else characters) and the counts of markdown headers, list items and
bold spans. Each difference is normalised as (f_a - f_b) / (f_a + f_b) (0 when both are 0), then
divided by its root mean square over the battles so the coefficients are comparable. It is not
mean-centred: swapping a battle's sides flips the sign of z, as it flips the outcome, so the fit
does not depend on which model was called model_a. theta is then the rating with the style
effect removed; beta * ELO_PER_UNIT is how many Elo points one unit of each (normalised) feature
is worth to the judge.

Unlike plain Bradley-Terry this cannot be aggregated into pair counts (z is continuous), so the
fit runs on one row per battle; the bootstrap reweights those rows with multinomial draws.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from arena.rating.bootstrap import draw_counts, run_rounds
from arena.rating.bt import VIRTUAL_TIES, strongly_connected
from arena.rating.newton import maximise

# Columns of a style array (n, 5): the fields of arena.records.Style, in order.
STYLE_FIELDS = ("tokens", "chars", "headers", "lists", "bold")

# A light Gaussian prior (unit variance) on the standardised style coefficients: negligible with
# thousands of battles, but it keeps the fit finite when a small sample (or one bootstrap
# resample) separates the outcomes on one style feature, where the maximum likelihood is infinite.
STYLE_RIDGE = 1.0


def style_covariates(style_a: np.ndarray, style_b: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Covariates z (n, k) and their names from both answers' style arrays (n, 5).

    Length is tokens when every answer has a token count, else characters; a feature that is
    zero for every battle (e.g. no answer used headers) is left out, as it carries no signal."""
    sa = np.asarray(style_a, dtype=np.float64)
    sb = np.asarray(style_b, dtype=np.float64)
    use_tokens = bool(np.all(sa[:, 0] > 0) and np.all(sb[:, 0] > 0))
    length = 0 if use_tokens else 1
    chosen = [(length, "length_tokens" if use_tokens else "length_chars"), (2, "headers"), (3, "lists"), (4, "bold")]
    columns, names = [], []
    for col, name in chosen:
        fa, fb = sa[:, col], sb[:, col]
        total = fa + fb
        diff = np.divide(fa - fb, total, out=np.zeros_like(total), where=total > 0)
        rms = float(np.sqrt(np.mean(diff**2))) if len(diff) else 0.0
        if rms > 0:
            columns.append(diff / rms)
            names.append(name)
    z = np.column_stack(columns) if columns else np.zeros((len(sa), 0))
    return z, names


def independent_covariates(
    model_a: np.ndarray,
    model_b: np.ndarray,
    z: np.ndarray,
    n_models: int,
    *,
    weight: np.ndarray | None = None,
    tol: float = 1e-8,
) -> np.ndarray:
    """Mask of the columns of z to keep: a column that is (nearly) a linear combination of the
    columns kept before it and of the rating differences (who played whom) cannot be told apart
    from them, and would make the fit singular. E.g. two markdown features that move together in
    every battle, or a feature that is constant when every battle has the same sides."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    z = np.asarray(z, dtype=np.float64)
    w = np.ones(len(a)) if weight is None else np.asarray(weight, dtype=np.float64)
    m, k = n_models, z.shape[1]
    # Gram matrix of the design [e_a - e_b, z] (rows weighted), ratings block made regular along
    # the all-ones direction as in the fit; cross terms sum to zero over models, so that leaves
    # the projections onto the rating differences unchanged.
    pair = np.bincount(a * m + b, w, m * m).reshape(m, m)
    pair = pair + pair.T
    ratings = np.diag(pair.sum(axis=1)) - pair + pair.sum() / (m * m)
    cross = np.column_stack(
        [np.bincount(a, w * z[:, f], m) - np.bincount(b, w * z[:, f], m) for f in range(k)]
    ) if k else np.zeros((m, 0))
    zz = z.T @ (w[:, None] * z)
    keep = np.zeros(k, dtype=bool)
    for f in range(k):
        if zz[f, f] <= 0:
            continue
        kept = np.flatnonzero(keep)
        block = np.block([[ratings, cross[:, kept]], [cross[:, kept].T, zz[np.ix_(kept, kept)]]])
        column = np.concatenate([cross[:, f], zz[kept, f]])
        residual = zz[f, f] - column @ np.linalg.lstsq(block, column, rcond=None)[0]
        keep[f] = residual > tol * zz[f, f]
    return keep


def fit_bt_style(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    z: np.ndarray,
    n_models: int,
    *,
    weight: np.ndarray | None = None,
    prior: float = 0.0,
    tol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    """Style-controlled strengths theta (m,) (natural units) and style coefficients beta (k,)."""
    w = np.ones(len(outcome)) if weight is None else np.asarray(weight, dtype=np.float64)
    theta, beta = fit_bt_style_batch(
        model_a, model_b, outcome, z, n_models, w[None], prior=np.array([prior]), tol=tol
    )
    return theta[0], beta[0]


def fit_bt_style_batch(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    z: np.ndarray,
    n_models: int,
    mass: np.ndarray,
    *,
    prior: np.ndarray | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Many style-controlled fits at once: battle weights `mass` (R, n) per fit (a bootstrap
    round's counts times the battles' weights). Newton's method (arena.rating.newton), as
    `bt.fit_bt_batch`; `prior` adds the same virtual ties. Returns theta (R, m), beta (R, k)."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    y = np.asarray(outcome, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    mass = np.asarray(mass, dtype=np.float64)
    rounds, k, m = mass.shape[0], z.shape[1], n_models
    prior = np.zeros(rounds) if prior is None else np.asarray(prior, dtype=np.float64)
    params = np.zeros((rounds, m + k))
    if start is not None:
        params[:, :m] = start[0]
        params[:, m:] = start[1]
    problem = _StyleProblem(a, b, y, z, m)
    mass = problem.sorted_mass(mass)
    maximise(
        params,
        lambda rows, p: problem.newton_step(p, mass[rows], prior[rows]),
        lambda rows, p: problem.log_likelihood(p, mass[rows], prior[rows]),
        tol=tol,
        max_iter=max_iter,
        what="style-controlled fit",
    )
    return params[:, :m], params[:, m:]


class _StyleProblem:
    """The per-battle log-likelihood, its gradient and Hessian, for stacked parameter rows.

    Battles are stored with the lower model index first (flipping outcome and z, which leaves
    the likelihood unchanged) and sorted by pair, so per-pair sums are contiguous
    `np.add.reduceat` segments rather than scattered additions: the Hessian's rating block only
    needs them."""

    def __init__(self, a: np.ndarray, b: np.ndarray, y: np.ndarray, z: np.ndarray, m: int):
        swap = a > b
        i, j = np.where(swap, b, a), np.where(swap, a, b)
        code = i * m + j
        self.order = np.argsort(code, kind="stable")
        code = code[self.order]
        self.y = np.where(swap, 1.0 - y, y)[self.order]
        self.z = np.where(swap[:, None], -z, z)[self.order]
        self.starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        self.sizes = np.diff(np.r_[self.starts, len(code)])
        self.pi, self.pj = np.divmod(code[self.starts], m)
        pairs = len(self.starts)
        # Incidence of pairs on models: +1 for the first model, -1 for the second.
        self.inc = np.zeros((pairs, m))
        self.inc[np.arange(pairs), self.pi] = 1.0
        self.inc[np.arange(pairs), self.pj] = -1.0
        self.m = m

    def sorted_mass(self, mass: np.ndarray) -> np.ndarray:
        return mass[:, self.order]

    def _eta(self, params: np.ndarray) -> np.ndarray:
        m = self.m
        theta, beta = params[:, :m], params[:, m:]
        return np.repeat(theta @ self.inc.T, self.sizes, axis=1) + beta @ self.z.T

    def _pair_sum(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.starts, axis=1)

    def log_likelihood(self, params: np.ndarray, mass: np.ndarray, prior: np.ndarray) -> np.ndarray:
        eta = self._eta(params)
        ll = (mass * (self.y * log_expit(eta) + (1.0 - self.y) * log_expit(-eta))).sum(axis=1)
        theta, beta = params[:, : self.m], params[:, self.m :]
        ll = ll - 0.5 * STYLE_RIDGE * (beta**2).sum(axis=1)
        return ll + prior * 0.5 * (log_expit(theta) + log_expit(-theta)).sum(axis=1)

    def newton_step(self, params: np.ndarray, mass: np.ndarray, prior: np.ndarray) -> np.ndarray:
        m, z, inc = self.m, self.z, self.inc
        rounds, k = params.shape[0], z.shape[1]
        p = expit(self._eta(params))
        resid = mass * (self.y - p)
        v = mass * p * (1.0 - p)
        grad = np.empty((rounds, m + k))
        grad[:, :m] = self._pair_sum(resid) @ inc
        grad[:, m:] = resid @ z
        vp = self._pair_sum(v)
        hess = np.zeros((rounds, m + k, m + k))
        hess[:, self.pi, self.pj] = -vp
        hess[:, self.pj, self.pi] = -vp
        diag = vp @ np.abs(inc)
        theta = params[:, :m]
        q = expit(theta)
        grad[:, :m] += prior[:, None] * (0.5 - q)
        diag += prior[:, None] * q * (1.0 - q)
        idx = np.arange(m)
        hess[:, idx, idx] += diag
        for f in range(k):
            cross = self._pair_sum(v * z[:, f]) @ inc
            hess[:, :m, m + f] = cross
            hess[:, m + f, :m] = cross
        hess[:, m:, m:] = np.einsum("rn,nf,ng->rfg", v, z, z)
        grad[:, m:] -= STYLE_RIDGE * params[:, m:]
        hess[:, m + np.arange(k), m + np.arange(k)] += STYLE_RIDGE
        # Same gauge fix as bt._newton_step: a zero-sum step for the ratings without a prior.
        free = prior == 0
        if free.any():
            c = diag[free].mean(axis=1) / m
            hess[np.ix_(np.flatnonzero(free), idx, idx)] += c[:, None, None]
        return np.linalg.solve(hess, grad[:, :, None])[:, :, 0]


def bootstrap_bt_style(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    z: np.ndarray,
    n_models: int,
    rounds: int,
    seed: int,
    *,
    start: tuple[np.ndarray, np.ndarray],
    weight: np.ndarray | None = None,
    prior: float = 0.0,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Style-controlled fits over bootstrap resamples of the battles: theta (rounds, m) and
    beta (rounds, k). A round whose resample has no finite maximum gets the virtual ties, as in
    `bootstrap.bootstrap_bt`."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    y = np.asarray(outcome, dtype=np.float64)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
    m, k = n_models, z.shape[1]
    ones = np.ones(len(y), dtype=np.int64)

    def chunk(rng: np.random.Generator, n: int) -> np.ndarray:
        mass = draw_counts(ones, n, rng) * w
        if prior > 0:
            priors = np.full(n, prior)
        else:
            priors = np.array([0.0 if strongly_connected(_wins(a, b, y, row, m)) else VIRTUAL_TIES for row in mass])
        theta, beta = fit_bt_style_batch(a, b, y, z, m, mass, prior=priors, start=start, tol=1e-8)
        return np.hstack([theta, beta])

    out = run_rounds(chunk, rounds, seed, workers=workers)
    return out[:, :m], out[:, m : m + k]


def _wins(a: np.ndarray, b: np.ndarray, y: np.ndarray, mass: np.ndarray, m: int) -> np.ndarray:
    won = mass * y
    wins = np.bincount(a * m + b, won, m * m) + np.bincount(b * m + a, mass - won, m * m)
    return wins.reshape(m, m)
