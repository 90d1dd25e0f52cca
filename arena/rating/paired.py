"""Paired tests between models: resample questions, not battles.

Battles on one question are not independent: both turns, both orders, and every pair of models
share the question's difficulty and the judge's reading of it. The paired bootstrap therefore
resamples questions with replacement and keeps every battle of a drawn question (all models, all
turns, all judges) together, so two models are always compared on the same resampled questions.

A round draws question multiplicities c (Q,) from a multinomial of `size` draws over the Q
questions, then each pair's points are c @ per-question sums (one matrix product for a chunk of
rounds) and Bradley-Terry is refitted. Where every question holds one battle (Chatbot Arena's
logs) this is the battle bootstrap, and `question_bootstrap_bt` hands over to it, so the samples
are those the leaderboard's intervals come from.

P-values are the percentile bootstrap's: two-sided, from the share of rounds on either side of
zero, with one added to each count so no p-value is 0 after finitely many rounds; p < 0.05 holds
exactly when the 95% percentile interval of the difference excludes 0 (up to that correction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from arena.rating.bootstrap import RoundFits, bootstrap_bt, run_rounds
from arena.rating.bt import ELO_PER_UNIT, Pairs
from arena.rating.counts import Cells

# Above this many (question, pair) slots the per-question sums are held sparse.
_DENSE_SLOTS = 40_000_000
# Differences smaller than this (Elo points, score points) are ties with zero.
_ZERO = 1e-9


@dataclass(frozen=True)
class QuestionSums:
    """Each pair's points per question: `won[q, p]` is `pairs.i[p]`'s weighted score against
    `pairs.j[p]` on question q, `lost[q, p]` the other side's; each a (Q, P) matrix, dense or
    sparse."""

    pairs: Pairs
    won: np.ndarray | csr_matrix
    lost: np.ndarray | csr_matrix
    n_questions: int
    n_battles: int

    @property
    def sparse(self) -> bool:
        return not isinstance(self.won, np.ndarray)

    def totals(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(won, lost), each (rounds, P), for question multiplicities `counts` (rounds, Q)."""
        counts = np.asarray(counts, dtype=np.float64)
        return np.asarray(counts @ self.won), np.asarray(counts @ self.lost)

    def full(self) -> tuple[np.ndarray, np.ndarray]:
        """(won, lost) of the whole log, each (P,)."""
        won, lost = self.totals(np.ones((1, self.n_questions)))
        return won[0], lost[0]


def question_sums(
    question: np.ndarray, model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, n_models: int,
    weight: np.ndarray | None = None,
) -> QuestionSums:
    """Per-question points of every pair that met, from battles (question codes 0..Q-1, model
    indices, model_a's outcome, optional weights)."""
    q = np.asarray(question, dtype=np.int64)
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    x = np.asarray(outcome, dtype=np.float64)
    w = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    n_questions = int(q.max()) + 1 if len(q) else 0
    swap = a > b
    i = np.where(swap, b, a)
    j = np.where(swap, a, b)
    score = np.where(swap, 1.0 - x, x)
    codes, pair = _pair_index(i * n_models + j, n_models)
    pairs = Pairs(*np.divmod(codes, n_models), n_models)
    n_pairs = len(codes)
    won = w * score
    lost = w - won
    slots = n_questions * n_pairs
    shape = (n_questions, n_pairs)
    # Dense where most (question, pair) slots hold a battle (our runs: every pair, or every model
    # against the baseline, on every question), sparse where few do (logs whose questions each
    # see a few pairs): there the sparse product is faster too, and the matrix a tenth the size.
    if len(q) >= slots // 2 and 2 * slots <= _DENSE_SLOTS:
        slot = q * n_pairs + pair
        return QuestionSums(
            pairs, np.bincount(slot, won, slots).reshape(shape), np.bincount(slot, lost, slots).reshape(shape),
            n_questions, len(q),
        )
    # Battles of one (question, pair) merged, sorted by question then pair: CSR as it is stored.
    slot, inverse = np.unique(q * n_pairs + pair, return_inverse=True)
    row, col = np.divmod(slot, n_pairs)
    return QuestionSums(
        pairs, _csr(row, col, np.bincount(inverse, won, len(slot)), shape),
        _csr(row, col, np.bincount(inverse, lost, len(slot)), shape), n_questions, len(q),
    )


def _pair_index(codes: np.ndarray, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pair codes (sorted) and each battle's position among them: a lookup table
    over every possible pair where that is small, else a sort."""
    if n_models * n_models > _DENSE_SLOTS:
        return np.unique(codes, return_inverse=True)
    seen = np.zeros(n_models * n_models, dtype=bool)
    seen[codes] = True
    position = np.cumsum(seen) - 1
    return np.flatnonzero(seen), position[codes]


def _csr(row: np.ndarray, col: np.ndarray, value: np.ndarray, shape: tuple[int, int]) -> csr_matrix:
    """A CSR matrix of entries sorted by row, zeros left out: a loss holds no points of the
    winner's, so about half the entries of win/loss verdicts are zeros the products skip."""
    kept = value != 0
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row[kept], minlength=shape[0]))])
    return csr_matrix((value[kept], col[kept], indptr), shape=shape)


def question_bootstrap_bt(
    sums: QuestionSums,
    rounds: int,
    seed: int,
    *,
    start: np.ndarray,
    prior: float = 0.0,
    size: int | None = None,
    workers: int = 1,
    cells: Cells | None = None,
) -> tuple[np.ndarray, int]:
    """Bradley-Terry strengths (rounds, m) over `rounds` resamples of `size` questions (default:
    as many as there are), and how many rounds needed the virtual-tie prior (see
    bootstrap.RoundFits). Where every question holds one battle and `size` is the default, the
    battle bootstrap of `cells` (the same battles, aggregated) is the same distribution: it runs
    instead, and gives exactly the leaderboard's samples for the same seed."""
    size = sums.n_questions if size is None else int(size)
    if cells is not None and sums.n_battles == sums.n_questions and size == sums.n_questions:
        return bootstrap_bt(cells, rounds, seed, start=start, prior=prior, workers=workers)
    fit = RoundFits(*sums.full(), sums.pairs, start, prior)
    p = np.full(sums.n_questions, 1.0 / sums.n_questions)

    def chunk(rng: np.random.Generator, n: int) -> np.ndarray:
        return fit(*sums.totals(rng.multinomial(size, p, size=n)))

    out = run_rounds(chunk, rounds, seed, workers=workers)
    return out[:, 1:], int(out[:, 0].sum())


def paired_runs_bootstrap(
    sums_a: QuestionSums,
    sums_b: QuestionSums,
    shared: int,
    rounds: int,
    seed: int,
    *,
    start_a: np.ndarray,
    start_b: np.ndarray,
    prior_a: float = 0.0,
    prior_b: float = 0.0,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bradley-Terry strengths of two runs, (rounds, m_a) and (rounds, m_b), over resamples of
    their questions in which the questions they share are drawn once for both: a stratified
    bootstrap whose strata are the shared questions (codes 0..shared-1 in both sums) and each
    run's own (the codes after), each resampled to its own size. So a shared question's
    difficulty, and the judge's reading of the answers both runs kept, cancel in run B minus
    run A, while each run's questions count as often as in its own leaderboard. Also returns
    how many rounds either fit needed the virtual-tie prior."""
    if not 0 <= shared <= min(sums_a.n_questions, sums_b.n_questions):
        raise ValueError("shared must be at most the questions of either run")
    fit_a = RoundFits(*sums_a.full(), sums_a.pairs, start_a, prior_a)
    fit_b = RoundFits(*sums_b.full(), sums_b.pairs, start_b, prior_b)
    own_a, own_b = sums_a.n_questions - shared, sums_b.n_questions - shared
    m_a = len(start_a)

    def draw(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
        return rng.multinomial(k, np.full(k, 1.0 / k), size=n) if k else np.zeros((n, 0), dtype=np.int64)

    def chunk(rng: np.random.Generator, n: int) -> np.ndarray:
        common = draw(rng, n, shared)
        counts_a = np.hstack([common, draw(rng, n, own_a)])
        counts_b = np.hstack([common, draw(rng, n, own_b)])
        return np.hstack([fit_a(*sums_a.totals(counts_a)), fit_b(*sums_b.totals(counts_b))])

    out = run_rounds(chunk, rounds, seed, workers=workers)
    regularised = int(np.count_nonzero(out[:, 0] + out[:, 1 + m_a]))
    return out[:, 1 : 1 + m_a], out[:, 2 + m_a :], regularised


def two_sided_p(differences: np.ndarray) -> float:
    """Two-sided percentile-bootstrap p-value of "the difference is 0" from its bootstrap
    samples: twice the smaller share of rounds at or beyond 0 on either side, each count plus
    one (so p >= 2 / (rounds + 1)), at most 1."""
    d = np.asarray(differences, dtype=np.float64)
    # Exact ties are common (in a balanced design two models with equal total scores get equal
    # ratings): rounding noise must not pick their side.
    d = np.where(np.abs(d) < _ZERO, 0.0, d)
    below = int(np.count_nonzero(d <= 0))
    above = int(np.count_nonzero(d >= 0))
    return min(1.0, 2.0 * (min(below, above) + 1) / (len(d) + 1))


@dataclass(frozen=True)
class Difference:
    """A paired difference (A minus B) with its 95% bootstrap interval and two-sided p-value."""

    value: float
    low: float
    high: float
    p_value: float
    se: float


def difference(point: float, samples: np.ndarray, level: float = 0.95) -> Difference:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return Difference(float(point), float(low), float(high), two_sided_p(samples), float(np.std(samples, ddof=1)))


def win_probability(gap: float | np.ndarray) -> float | np.ndarray:
    """P(A beats B) for a rating gap A - B in Elo points (Bradley-Terry on the Elo scale)."""
    return 1.0 / (1.0 + 10.0 ** (-np.asarray(gap) / 400.0))


def elo_gap(theta: np.ndarray, first: int, second: int) -> np.ndarray:
    """Rating gap first - second in Elo points, from strengths in natural units (..., m)."""
    return (theta[..., first] - theta[..., second]) * ELO_PER_UNIT


def paired_mean_difference(differences: np.ndarray, rounds: int, seed: int) -> Difference:
    """The mean of per-question differences (A's score minus B's on the same question) with a
    bootstrap over questions."""
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    p = np.full(n, 1.0 / n)

    def chunk(rng: np.random.Generator, k: int) -> np.ndarray:
        return rng.multinomial(n, p, size=k) @ d / n

    return difference(float(d.mean()), run_rounds(chunk, rounds, seed))


# --- power ----------------------------------------------------------------------------------------


def z_quantile(p: float) -> float:
    """The standard normal quantile (scipy imported where used: it is slow to import)."""
    from scipy.stats import norm

    return float(norm.ppf(p))


def power_of(gap: float, se: float, alpha: float = 0.05) -> float:
    """Power of the two-sided test at level `alpha` to find a true gap `gap` when its estimate
    has standard error `se` (normal approximation of the bootstrap distribution)."""
    from scipy.stats import norm

    z = norm.ppf(1.0 - alpha / 2.0)
    shift = abs(gap) / se
    return float(norm.cdf(shift - z) + norm.cdf(-shift - z))


def questions_needed(scale: float, gap: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Questions needed for power `power` at level `alpha` when the gap's standard error is
    `scale` / sqrt(questions): the smallest n with z_(1-alpha/2) + z_power <= gap * sqrt(n) / scale."""
    z = z_quantile(1.0 - alpha / 2.0) + z_quantile(power)
    return max(1, math.ceil((z * scale / abs(gap)) ** 2))


def se_scale(sizes: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """(scale, exponent): the least-squares fit of se = scale / sqrt(n) on a log scale, and the
    free fit's exponent of n (about -0.5 where the standard error shrinks as it should)."""
    logn = np.log(np.asarray(sizes, dtype=np.float64))
    logse = np.log(np.asarray(ses, dtype=np.float64))
    scale = float(np.exp(np.mean(logse + 0.5 * logn)))
    exponent = float(np.polyfit(logn, logse, 1)[0]) if len(logn) >= 2 and np.ptp(logn) > 0 else -0.5
    return scale, exponent
