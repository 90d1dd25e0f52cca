"""How well one leaderboard reproduces another: arena-hard's benchmark-quality figures (Li,
Chiang et al., 2024, "From Crowdsourced Data to High-Quality Benchmarks: Arena-Hard and
BenchBuilder Pipeline"), computed on the models both leaderboards share.

- Separability: the share of model pairs whose 95% intervals do not overlap (intervals that
  only touch count as separated, as in the authors' code).
- Agreement with confidence (AgC): over the pairs the reference separates, +1 for each the
  benchmark also separates in the same order, -1 for each it separates in the opposite order, 0
  for each it does not separate; divided by the number of pairs the reference separates. (The
  paper's published figures, 89.1% and 90.9% for Arena-Hard-Auto, exceed its own 87.4%
  separability, so the denominator cannot be all pairs; the counts are reported as well, so
  other readings can be recomputed.)
- Spearman's rho and Kendall's tau-b of the point estimates.
- Brier score of the benchmark's predicted P(a ranks above b), a normal approximation from its
  bootstrap replicates, Phi((mu_a - mu_b) / sqrt(var_a + var_b)), against the reference's order
  (1 where a's point estimate is the higher), averaged over the pairs; pairs the reference ties
  have no order and are left out.

Pure numpy and scipy; a Board is a leaderboard reduced to what these figures need.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt

import numpy as np

from arena.rating.correlation import spearman


@dataclass
class Board:
    """A leaderboard: per model a point estimate with its 95% interval (NaN where the source
    gives none) and, where the source was rated here, the bootstrap replicates (rounds, m)."""

    models: list[str]
    score: np.ndarray
    low: np.ndarray
    high: np.ndarray
    samples: np.ndarray | None = None
    #: What the scores are (a column of a leaderboard file, or "Bradley-Terry rating").
    measure: str = ""

    def subset(self, models: list[str]) -> Board:
        """The same board restricted to `models`, in that order."""
        at = {m: i for i, m in enumerate(self.models)}
        idx = np.array([at[m] for m in models], dtype=np.int64)
        samples = None if self.samples is None else self.samples[:, idx]
        return Board(list(models), self.score[idx], self.low[idx], self.high[idx], samples, self.measure)

    @property
    def has_intervals(self) -> bool:
        """Whether any model has an interval (a pair where either has none counts as not separated)."""
        return bool(np.any(np.isfinite(self.low) & np.isfinite(self.high)))


def pairs_of(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair (i < j) of n items."""
    return np.triu_indices(n, k=1)


def separation(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per unordered pair (i < j, in `pairs_of` order): +1 where i's interval lies wholly above
    j's, -1 where wholly below, 0 where they overlap (or either is unknown, NaN)."""
    i, j = pairs_of(len(low))
    above = low[i] >= high[j]
    below = low[j] >= high[i]
    # Two zero-width intervals at one value "touch" both ways: they are not separated.
    return np.where(above & ~below, 1, np.where(below & ~above, -1, 0)).astype(np.int64)


def separability(low: np.ndarray, high: np.ndarray) -> float:
    """Share of model pairs whose intervals do not overlap; NaN with fewer than two models."""
    sep = separation(np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64))
    return float(np.mean(sep != 0)) if len(sep) else float("nan")


@dataclass
class ConfidentAgreement:
    """Agreement with confidence and its counts over the pairs the reference separates."""

    value: float  # (agree - disagree) / reference_separated; NaN when the reference separates no pair
    reference_separated: int
    agree: int  # separated by both, in the same order
    disagree: int  # separated by both, in opposite orders
    undecided: int  # separated by the reference only

    @property
    def same_order(self) -> float:
        """Of the pairs both separate, the share ordered alike."""
        both = self.agree + self.disagree
        return self.agree / both if both else float("nan")


def agreement_with_confidence(ours: np.ndarray, reference: np.ndarray) -> ConfidentAgreement:
    """AgC from two `separation` vectors over the same pairs."""
    ours, reference = np.asarray(ours), np.asarray(reference)
    decided = reference != 0
    n = int(decided.sum())
    agree = int(np.sum(decided & (ours == reference)))
    disagree = int(np.sum(decided & (ours == -reference)))
    value = (agree - disagree) / n if n else float("nan")
    return ConfidentAgreement(value, n, agree, disagree, n - agree - disagree)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties in either ranking count against neither order); NaN with fewer
    than two values or where either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    i, j = pairs_of(len(x))
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    tied_x, tied_y = int(np.sum(dx == 0)), int(np.sum(dy == 0))
    n = len(i)
    denominator = sqrt((n - tied_x) * (n - tied_y))
    if denominator == 0:
        return float("nan")
    return float(np.sum(dx * dy) / denominator)


def rank_probabilities(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Per unordered pair (i < j): P(i ranks above j) if each model's score were normal with
    this mean and variance (a pair with no variance at all: 1, 0, or 0.5 where the means tie)."""
    i, j = pairs_of(len(mean))
    diff = mean[i] - mean[j]
    spread = np.sqrt(var[i] + var[j])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, diff / np.where(spread > 0, spread, 1.0), 0.0)
    exact = np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
    # The normal CDF; imported here, as scipy.stats elsewhere, for the CLI's start-up time.
    from scipy.special import ndtr

    return np.where(spread > 0, ndtr(z), exact)


def brier_score(probability: np.ndarray, reference_score: np.ndarray) -> tuple[float, int]:
    """Mean squared error of P(i above j) (per `pairs_of` pair) against the reference's order
    (1 where its score for i is the higher), over the pairs the reference does not tie; and the
    number of those pairs. NaN where there is none."""
    i, j = pairs_of(len(reference_score))
    diff = reference_score[i] - reference_score[j]
    ordered = diff != 0
    if not ordered.any():
        return float("nan"), 0
    outcome = (diff[ordered] > 0).astype(np.float64)
    return float(np.mean((probability[ordered] - outcome) ** 2)), int(ordered.sum())


@dataclass
class RankAgreement:
    """Every figure of one benchmark against one reference, on their shared models."""

    models: int
    pairs: int
    separability: float
    reference_separability: float  # over the pairs with both intervals known; NaN where there is none
    agreement: ConfidentAgreement | None  # None where the reference has no intervals
    spearman: float
    kendall: float
    brier: float  # NaN where the benchmark has no bootstrap replicates
    brier_pairs: int


def rank_agreement(ours: Board, reference: Board) -> RankAgreement:
    """The figures of `ours` against `reference`, both restricted to their shared models (which
    the caller has checked number two or more)."""
    shared = [m for m in ours.models if m in set(reference.models)]
    a, r = ours.subset(shared), reference.subset(shared)
    sep_a = separation(a.low, a.high)
    agreement = None
    ref_separability = float("nan")
    if r.has_intervals:
        sep_r = separation(r.low, r.high)
        # Over the pairs whose two intervals are known: a leaderboard may give some models none.
        known = np.isfinite(r.low) & np.isfinite(r.high)
        i, j = pairs_of(len(shared))
        both = known[i] & known[j]
        ref_separability = float(np.mean(sep_r[both] != 0)) if both.any() else float("nan")
        agreement = agreement_with_confidence(sep_a, sep_r)
    brier, brier_pairs = float("nan"), 0
    if a.samples is not None and len(a.samples):
        probability = rank_probabilities(a.samples.mean(axis=0), a.samples.var(axis=0))
        brier, brier_pairs = brier_score(probability, r.score)
    return RankAgreement(
        models=len(shared), pairs=len(sep_a), separability=float(np.mean(sep_a != 0)) if len(sep_a) else float("nan"),
        reference_separability=ref_separability, agreement=agreement, spearman=spearman(a.score, r.score),
        kendall=kendall_tau(a.score, r.score),
        brier=brier, brier_pairs=brier_pairs,
    )

