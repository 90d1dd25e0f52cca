"""Ratings with intervals: each method's fit, the checks that make it meaningful, the bootstrap.

These are the functions the ratings stage and `arena rate` call; they take model indices and
outcomes (numpy arrays) plus the model names (for messages), and return Elo-scale ratings with
95% percentile bootstrap intervals. Warnings (a regularised fit) come back in `.warnings` and
lesser facts (bootstrap resamples that needed regularising) in `.notes`, for the caller to show
and record; nothing here prints or opens a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arena.errors import ArenaError
from arena.rating.bootstrap import bootstrap_bt_many, percentile_interval
from arena.rating.bt import (
    ELO_PER_UNIT,
    INITIAL,
    VIRTUAL_TIES,
    components,
    fit_bt,
    to_elo,
    unbounded_groups,
)
from arena.rating.counts import Cells, pair_totals
from arena.rating.elo import online_elo, online_elo_rounds
from arena.rating.style import (
    bootstrap_bt_style,
    fit_bt_style,
    independent_covariates,
    style_covariates,
)

_NAMES_SHOWN = 8
_ELO_BLOCK = 4096


@dataclass
class Rated:
    """Elo-scale ratings (m,) with their interval (NaN without bootstrap rounds)."""

    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rounds: int = 0
    regularised: bool = False
    regularised_rounds: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What each warning (and note) is about, one of KINDS, so callers can group them.
    warning_kinds: list[str] = field(default_factory=list)
    note_kinds: list[str] = field(default_factory=list)
    #: The bootstrap rounds' ratings (rounds, m), Elo scale, where there were rounds: paired
    #: differences between models come from them (arena.significance).
    samples: np.ndarray | None = None


#: Kinds of warnings and notes: a model with no loss (infinite ML rating), one with no win or tie
#: (minus infinity), the light regularisation those get, bootstrap resamples that needed it, and
#: style features that could not be separated.
NEVER_LOST, NEVER_WON, REGULARISED, RESAMPLES_REGULARISED, STYLE_DROPPED = (
    "never_lost", "never_won", "regularised", "resamples_regularised", "style_features_dropped",
)


@dataclass
class StyleRated(Rated):
    """Style-controlled ratings plus the style coefficients, in Elo points per unit of each
    normalised feature (see arena.rating.style), with their intervals."""

    features: list[str] = field(default_factory=list)
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_high: np.ndarray = field(default_factory=lambda: np.zeros(0))


def check_connected(games: np.ndarray, names: list[str]) -> None:
    """Raise ArenaError naming the groups when the battles do not link every model to every
    other (ratings of models that never met, even through others, are not comparable)."""
    groups = components(games)
    if len(groups) <= 1:
        return
    shown = " | ".join("{" + _name_list(g, names) + "}" for g in groups[:_NAMES_SHOWN])
    more = f" and {len(groups) - _NAMES_SHOWN} more groups" if len(groups) > _NAMES_SHOWN else ""
    raise ArenaError(
        f"the comparison graph is disconnected: {len(groups)} groups of models never met, even through "
        f"other models: {shown}{more}; their ratings are not comparable: add battles between the groups "
        "or rate each group on its own"
    )


def _name_list(indices: np.ndarray, names: list[str]) -> str:
    shown = ", ".join(names[i] for i in indices[:_NAMES_SHOWN])
    return shown + (f", and {len(indices) - _NAMES_SHOWN} more" if len(indices) > _NAMES_SHOWN else "")


def prior_warnings(wins: np.ndarray, names: list[str]) -> tuple[list[str], list[str]]:
    """Warnings (and their kinds) for models whose maximum-likelihood rating is infinite."""
    top, bottom = unbounded_groups(wins)
    notes, kinds = [], []
    for group in top:
        who = _name_list(group, names)
        verb = "never lost a battle" if len(group) == 1 else "never lost a battle to a model outside their group"
        notes.append(f"{who} {verb}: the maximum-likelihood rating is infinite")
        kinds.append(NEVER_LOST)
    for group in bottom:
        who = _name_list(group, names)
        verb = "never won or tied a battle" if len(group) == 1 else "never won or tied against a model outside their group"
        notes.append(f"{who} {verb}: the maximum-likelihood rating is minus infinity")
        kinds.append(NEVER_WON)
    if notes:
        notes.append(
            f"regularised lightly: every model also plays {VIRTUAL_TIES:g} virtual tie against an average "
            "model, so those ratings are finite but bounds rather than estimates"
        )
        kinds.append(REGULARISED)
    return notes, kinds


def bradley_terry(
    cells: Cells,
    names: list[str],
    *,
    rounds: int = 1000,
    seed: int = 0,
    anchor: int | None = None,
    anchor_rating: float = INITIAL,
    workers: int = 1,
) -> Rated:
    """Bradley-Terry ratings on the Elo scale (centred on 1000, or model `anchor` pinned at
    `anchor_rating`) with 95% bootstrap intervals over `rounds` resamples of the battles."""
    (rated,) = bradley_terry_many(
        [cells], [names], rounds=rounds, seed=seed, anchors=[anchor], anchor_rating=anchor_rating, workers=workers
    )
    if isinstance(rated, ArenaError):
        raise rated
    return rated


def bradley_terry_many(
    cells: list[Cells],
    names: list[list[str]],
    *,
    rounds: int = 1000,
    seed: int = 0,
    anchors: list[int | None] | None = None,
    anchor_rating: float = INITIAL,
    workers: int = 1,
) -> list[Rated | ArenaError]:
    """`bradley_terry` for several sets of battles (a log's overall, per-category and per-turn
    leaderboards), their bootstrap rounds run in one pool of threads. Each result is what
    `bradley_terry` gives for those battles alone, or the ArenaError it would raise."""
    anchors = anchors if anchors is not None else [None] * len(cells)
    results: list[Rated | ArenaError] = []
    pending = []
    for k, (c, who, anchor) in enumerate(zip(cells, names, anchors)):
        wins, games = pair_totals(c)
        try:
            check_connected(games, who)
        except ArenaError as exc:
            results.append(exc)
            continue
        warnings, kinds = prior_warnings(wins, who)
        prior = VIRTUAL_TIES if warnings else 0.0
        theta = fit_bt(wins, prior=prior)
        rating = to_elo(theta, anchor=anchor, anchor_rating=anchor_rating)
        nan = np.full(len(who), np.nan)
        results.append(Rated(rating, nan, nan.copy(), 0, bool(prior), 0, warnings, warning_kinds=kinds))
        pending.append((k, c, theta, prior, anchor))
    if rounds <= 0 or not pending:
        return results
    drawn = bootstrap_bt_many([(c, theta, prior) for _, c, theta, prior, _ in pending], rounds, seed, workers=workers)
    for (k, _, _, prior, anchor), (samples, regularised) in zip(pending, drawn):
        rated = results[k]
        assert isinstance(rated, Rated)
        rated.samples = to_elo(samples, anchor=anchor, anchor_rating=anchor_rating)
        rated.ci_low, rated.ci_high = percentile_interval(rated.samples)
        rated.rounds = rounds
        rated.regularised_rounds = regularised
        if regularised and not prior:
            rated.notes.append(
                f"{regularised} of {rounds} bootstrap resamples left some model without a loss or a win "
                "and were regularised with virtual ties; intervals of rarely-losing models are approximate"
            )
            rated.note_kinds.append(RESAMPLES_REGULARISED)
    return results


def elo(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    *,
    k: float = 4.0,
    weight: np.ndarray | None = None,
    rounds: int = 0,
    seed: int = 0,
    anchor: int | None = None,
    anchor_rating: float = INITIAL,
) -> Rated:
    """Online Elo over the battles in the order given; with `rounds`, intervals from replays of
    bootstrap resamples (each a random order: Chatbot Arena's first published method). The
    replays cost one numpy step per battle, so they suit logs of thousands of battles, not
    millions. With an anchor, every replay is shifted so the anchor holds its rating."""
    point = online_elo(model_a, model_b, outcome, n_models, k=k, weight=weight)
    if anchor is not None:
        point = point - point[anchor] + anchor_rating
    nan = np.full(n_models, np.nan)
    if rounds <= 0:
        return Rated(point, nan, nan.copy())
    rng = np.random.default_rng(seed)
    n = len(outcome)
    samples = None
    # Picks are drawn a block of steps at a time so memory stays O(rounds * block).
    for done in range(0, n, _ELO_BLOCK):
        picks = rng.integers(0, n, size=(rounds, min(_ELO_BLOCK, n - done)))
        samples = online_elo_rounds(model_a, model_b, outcome, n_models, picks, ratings=samples, k=k, weight=weight)
    if anchor is not None:
        samples = samples - samples[:, anchor : anchor + 1] + anchor_rating
    low, high = percentile_interval(samples)
    return Rated(point, low, high, rounds)


def style_controlled(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    style_a: np.ndarray,
    style_b: np.ndarray,
    names: list[str],
    *,
    weight: np.ndarray | None = None,
    rounds: int = 1000,
    seed: int = 0,
    anchor: int | None = None,
    anchor_rating: float = INITIAL,
    workers: int = 1,
) -> StyleRated:
    """Bradley-Terry ratings with the answers' style (length, markdown) as covariates: the
    rating with the style effect removed, on the same scale as `bradley_terry`."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    x = np.asarray(outcome, dtype=np.float64)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64)
    m = len(names)
    z, features = style_covariates(style_a, style_b)
    keep = independent_covariates(a, b, z, m, weight=w)
    dropped = [f for f, kept in zip(features, keep) if not kept]
    z, features = z[:, keep], [f for f, kept in zip(features, keep) if kept]
    mass_wins = np.bincount(a * m + b, w * x, m * m) + np.bincount(b * m + a, w * (1 - x), m * m)
    wins = mass_wins.reshape(m, m)
    check_connected(wins + wins.T, names)
    warnings, kinds = prior_warnings(wins, names)
    prior = VIRTUAL_TIES if warnings else 0.0
    if dropped:
        warnings.append(
            f"style features {', '.join(dropped)} move together with the other features or with who played "
            "whom in every battle, so their effect cannot be separated; they are left out"
        )
        kinds.append(STYLE_DROPPED)
    theta, beta = fit_bt_style(a, b, x, z, m, weight=w, prior=prior)
    rating = to_elo(theta, anchor=anchor, anchor_rating=anchor_rating)
    nan = np.full(m, np.nan)
    knan = np.full(len(features), np.nan)
    result = StyleRated(
        rating, nan, nan.copy(), 0, bool(prior), 0, warnings, [], kinds, [],
        features=features, coef=beta * ELO_PER_UNIT, coef_low=knan, coef_high=knan.copy(),
    )
    if rounds <= 0:
        return result
    thetas, betas = bootstrap_bt_style(
        a, b, x, z, m, rounds, seed, start=(theta, beta), weight=w, prior=prior, workers=workers
    )
    result.ci_low, result.ci_high = percentile_interval(to_elo(thetas, anchor=anchor, anchor_rating=anchor_rating))
    if len(features):
        result.coef_low, result.coef_high = percentile_interval(betas * ELO_PER_UNIT)
    result.rounds = rounds
    return result
