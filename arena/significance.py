"""Which differences between models are real: the paired test of two models (`arena compare`),
the p-value of each leaderboard row against the next (`p_vs_next`), and how many questions a
given gap needs (`arena power`). The maths is in arena.rating.paired; this module picks the
battles, names the models and lays the results out.

Questions are the unit of resampling: a battle's question is its `question_id` (logs without
one, such as Chatbot Arena's, give every battle its own, so there the test is the battle
bootstrap the leaderboard's intervals come from).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from arena.errors import DataError
from arena.rating.bootstrap import run_rounds, workers_for
from arena.rating.bt import VIRTUAL_TIES, fit_bt, to_elo
from arena.rating.counts import Cells, aggregate, pair_totals
from arena.rating.paired import (
    Difference,
    QuestionSums,
    difference,
    paired_mean_difference,
    power_of,
    question_bootstrap_bt,
    question_sums,
    questions_needed,
    se_scale,
    win_probability,
)
from arena.rating.ratings import check_connected, prior_warnings

DEFAULT_GAPS = (20.0, 50.0, 100.0)


@dataclass
class PairedLog:
    """A battle table as arrays for the paired bootstrap: model indices into `models`, question
    codes, cells and per-question sums, and the full-data Bradley-Terry fit (`theta` in natural
    units, `rating` on the Elo scale centred on 1000)."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    q: np.ndarray
    x: np.ndarray
    w: np.ndarray
    cells: Cells
    sums: QuestionSums
    theta: np.ndarray
    prior: float
    warnings: list[str] = field(default_factory=list)

    @property
    def rating(self) -> np.ndarray:
        return to_elo(self.theta)


def question_codes(battles: pd.DataFrame) -> np.ndarray:
    """Each battle's question as a code 0..Q-1; a table without question ids gives every battle
    its own question."""
    if "question_id" not in battles:
        return np.arange(len(battles), dtype=np.int64)
    codes, _ = pd.factorize(battles["question_id"], use_na_sentinel=False)
    return codes.astype(np.int64)


def paired_log(battles: pd.DataFrame) -> PairedLog:
    """Encode a battle table (arena.battle_log's columns) and fit Bradley-Terry to it, as the
    leaderboard does (the same warnings, the same light prior where a model never lost or won)."""
    if len(battles) == 0:
        raise DataError("no battles to compare")
    models = sorted(set(battles["model_a"].unique()) | set(battles["model_b"].unique()))
    lookup = pd.Index(models)
    a = lookup.get_indexer(battles["model_a"]).astype(np.int64)
    b = lookup.get_indexer(battles["model_b"]).astype(np.int64)
    q = question_codes(battles)
    x = battles["outcome"].to_numpy(dtype=np.float64)
    w = battles["weight"].to_numpy(dtype=np.float64)
    cells = aggregate(a, b, x, len(models), w)
    wins, games = pair_totals(cells)
    check_connected(games, models)
    warnings, _ = prior_warnings(wins, models)
    prior = VIRTUAL_TIES if warnings else 0.0
    theta = fit_bt(wins, prior=prior)
    return PairedLog(models, a, b, q, x, w, cells, question_sums(q, a, b, x, len(models), w), theta, prior, warnings)


def paired_samples(log: PairedLog, rounds: int, seed: int, workers: int = 0, size: int | None = None) -> tuple[np.ndarray, int]:
    """Elo-scale ratings (rounds, m) over resamples of the log's questions (see
    arena.rating.paired), and how many rounds were regularised."""
    theta, regularised = question_bootstrap_bt(
        log.sums, rounds, seed, start=log.theta, prior=log.prior, size=size, workers=workers_for(workers), cells=log.cells
    )
    return to_elo(theta), regularised


def gap_of(rating: np.ndarray, samples: np.ndarray, first: int, second: int) -> Difference:
    """The rating gap first - second (Elo points) with its paired interval and p-value."""
    return difference(float(rating[first] - rating[second]), samples[:, first] - samples[:, second])


# --- p_vs_next -------------------------------------------------------------------------------------


def p_vs_next(models: list[str], order: list[str], rating: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """For each model in leaderboard order, the paired p-value of its gap to the next model
    down (NaN for the last); `rating` and `samples` (rounds, m) are over `models`."""
    index = [models.index(name) for name in order]
    out = np.full(len(order), np.nan)
    for k in range(len(order) - 1):
        out[k] = gap_of(rating, samples, index[k], index[k + 1]).p_value
    return out


def resampling_unit(n_questions: int, n_battles: int) -> str:
    """What the paired bootstrap resamples, for notes."""
    if n_questions == n_battles:
        return f"{n_battles} battles (one per question)"
    return f"{n_questions} questions ({n_battles} battles; every battle of a question moves with it)"


# --- arena compare ---------------------------------------------------------------------------------


@dataclass
class ScoreDifference:
    """Single grading: A's mean score minus B's over the questions both were graded on."""

    judge: str
    n_questions: int
    mean_a: float
    mean_b: float
    difference: Difference


@dataclass
class Comparison:
    model_a: str
    model_b: str
    judges: list[str]
    rounds: int
    seed: int
    n_battles: int
    n_questions: int
    shared_questions: int
    unit: str
    rating_a: float
    rating_b: float
    gap: Difference
    win_probability: float
    win_low: float
    win_high: float
    direct_battles: int = 0
    direct_score: Difference | None = None
    scores: list[ScoreDifference] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_models(
    battles: pd.DataFrame,
    model_a: str,
    model_b: str,
    *,
    rounds: int = 1000,
    seed: int = 0,
    workers: int = 0,
    scores: pd.DataFrame | None = None,
) -> Comparison:
    """The paired comparison of two models on the battles given (one judge's, or several
    pooled): the Bradley-Terry rating gap A - B with its interval and p-value, P(A beats B), A's
    score in their direct battles where they met, and for single grading (`scores`: judge,
    model, question_id, turn, score) the paired difference of mean scores per judge. One
    resample of questions serves every figure."""
    if model_a == model_b:
        raise DataError(f"--models: {model_a!r} twice; name two different models")
    if rounds < 1:
        raise DataError("--rounds: expected an integer >= 1")
    present = set(battles["model_a"].unique()) | set(battles["model_b"].unique())
    missing = [m for m in (model_a, model_b) if m not in present]
    if missing:
        shown = ", ".join(sorted(map(str, present))[:20])
        raise DataError(f"--models: {', '.join(missing)} not in these battles; they have: {shown}")
    log = paired_log(battles)
    ia, ib = log.models.index(model_a), log.models.index(model_b)
    samples, regularised = paired_samples(log, rounds, seed, workers)
    rating = log.rating
    gap = gap_of(rating, samples, ia, ib)
    win_low, win_high = (float(v) for v in win_probability(np.array([gap.low, gap.high])))
    questions_of = [set(log.q[(log.a == m) | (log.b == m)].tolist()) for m in (ia, ib)]
    direct = ((log.a == ia) & (log.b == ib)) | ((log.a == ib) & (log.b == ia))
    warnings = list(log.warnings)
    if regularised and not log.prior:
        warnings.append(f"{regularised} of {rounds} resamples left some model without a loss or a win and were regularised")
    result = Comparison(
        model_a=model_a, model_b=model_b, judges=sorted(map(str, battles["judge"].unique())), rounds=rounds, seed=seed,
        n_battles=len(battles), n_questions=log.sums.n_questions, shared_questions=len(questions_of[0] & questions_of[1]),
        unit=resampling_unit(log.sums.n_questions, log.sums.n_battles), rating_a=float(rating[ia]), rating_b=float(rating[ib]), gap=gap,
        win_probability=float(win_probability(gap.value)), win_low=win_low, win_high=win_high,
        direct_battles=int(direct.sum()), warnings=warnings,
    )
    if direct.any():
        result.direct_score = _direct_score(log, direct, ia, rounds, seed)
    if scores is not None and len(scores):
        result.scores = score_differences(scores, model_a, model_b, rounds, seed)
    return result


def _direct_score(log: PairedLog, direct: np.ndarray, ia: int, rounds: int, seed: int) -> Difference:
    """A's mean score in the battles between the two (weighted), resampled by question."""
    score = np.where(log.a[direct] == ia, log.x[direct], 1.0 - log.x[direct])
    w = log.w[direct]
    q = log.q[direct]
    n = log.sums.n_questions
    points = np.bincount(q, w * score, n)
    mass = np.bincount(q, w, n)
    probs = np.full(n, 1.0 / n)

    def chunk(rng: np.random.Generator, k: int) -> np.ndarray:
        counts = rng.multinomial(n, probs, size=k).astype(np.float64)
        total = counts @ mass
        return np.where(total > 0, (counts @ points) / np.where(total > 0, total, 1.0), np.nan)

    drawn = run_rounds(chunk, rounds, seed)
    drawn = drawn[~np.isnan(drawn)]
    # Tested against an even score: A's share of points minus one half.
    return _shifted(difference(points.sum() / mass.sum() - 0.5, drawn - 0.5), 0.5)


def _shifted(d: Difference, by: float) -> Difference:
    return Difference(d.value + by, d.low + by, d.high + by, d.p_value, d.se)


def score_differences(scores: pd.DataFrame, model_a: str, model_b: str, rounds: int, seed: int) -> list[ScoreDifference]:
    """Per judge, A's mean score minus B's: per question, each model's mean over the turns both
    were graded on, then the mean over questions, bootstrapped by question."""
    out = []
    for judge, group in scores.groupby("judge", sort=True):
        pair = group[group["model"].isin([model_a, model_b])]
        table = pair.pivot_table(index=["question_id", "turn"], columns="model", values="score", aggfunc="mean")
        if model_a not in table or model_b not in table:
            continue
        table = table[[model_a, model_b]].dropna()
        if table.empty:
            continue
        per_question = table.groupby(level="question_id").mean()
        d = (per_question[model_a] - per_question[model_b]).to_numpy()
        out.append(ScoreDifference(
            str(judge), len(d), float(per_question[model_a].mean()), float(per_question[model_b].mean()),
            paired_mean_difference(d, rounds, seed),
        ))
    return out


def format_comparison(c: Comparison) -> str:
    judges = c.judges[0] if len(c.judges) == 1 else f"{len(c.judges)} judges pooled ({', '.join(c.judges[:5])}{', ...' if len(c.judges) > 5 else ''})"
    g = c.gap
    lines = [
        f"{c.model_a} vs {c.model_b}: judge {judges}; {c.n_battles} battles, {c.shared_questions} questions where both played",
        f"paired bootstrap over {c.unit}, {c.rounds} rounds, seed {c.seed}",
        f"  ratings (Bradley-Terry, centred on 1000): {c.model_a} {c.rating_a:.1f}, {c.model_b} {c.rating_b:.1f}",
        f"  rating gap {c.model_a} - {c.model_b}: {g.value:+.1f} Elo, 95% interval [{g.low:+.1f}, {g.high:+.1f}], {p_text(g.p_value, c.rounds)}",
        f"  P({c.model_a} beats {c.model_b}): {c.win_probability:.3f}, 95% interval [{c.win_low:.3f}, {c.win_high:.3f}]",
    ]
    if c.direct_score is not None:
        d = c.direct_score
        lines.append(
            f"  head to head: {c.direct_battles} battles, {c.model_a}'s score {d.value:.3f}, 95% interval "
            f"[{d.low:.3f}, {d.high:.3f}], {p_text(d.p_value, c.rounds)} (against an even 0.5)"
        )
    else:
        lines.append("  head to head: they never met; the gap comes from their battles with other models")
    for s in c.scores:
        d = s.difference
        lines.append(
            f"  single grading, judge {s.judge}: mean score {c.model_a} {s.mean_a:.2f}, {c.model_b} {s.mean_b:.2f}; "
            f"difference {d.value:+.2f}, 95% interval [{d.low:+.2f}, {d.high:+.2f}], {p_text(d.p_value, c.rounds)} "
            f"over {s.n_questions} questions"
        )
    verdict = "separated" if g.p_value < 0.05 else "not separated"
    lines.append(f"  at the 5% level the two are {verdict} by these questions")
    lines += [f"  warning: {w}" for w in c.warnings]
    return "\n".join(lines)


def p_text(p: float, rounds: int | None = None) -> str:
    """"p = 0.180", or "p <= 0.002" at the smallest value the rounds can give."""
    shown = format_p(p, rounds)
    return f"p <= {shown[2:]}" if shown.startswith("<=") else f"p = {shown}"


def format_p(p: float, rounds: int | None = None) -> str:
    """A p-value for text; at the smallest value `rounds` bootstrap rounds can give (no round
    on the other side of zero), shown as a bound."""
    if not np.isfinite(p):
        return "-"
    if rounds and p <= 2.0 / (rounds + 1) * (1 + 1e-9):
        return f"<={p:.3f}" if p >= 0.001 else f"<={p:.1e}"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


# --- arena power -----------------------------------------------------------------------------------


@dataclass
class PowerPair:
    model_a: str
    model_b: str
    se_at: dict[int, float]
    scale: float
    exponent: float


@dataclass
class PowerReport:
    n_questions: int
    unit: str
    alpha: float
    power: float
    rounds: int
    sizes: list[int]
    pairs: list[PowerPair]
    gaps: list[float]
    #: Per gap: questions needed for each pair (same order as `pairs`).
    needed: dict[float, list[int]]
    #: Per gap: the power the run's own question count has, per pair.
    power_now: dict[float, list[float]]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["needed"] = {str(k): v for k, v in self.needed.items()}
        out["power_now"] = {str(k): v for k, v in self.power_now.items()}
        return out


def power_analysis(
    battles: pd.DataFrame,
    *,
    gaps: tuple[float, ...] = DEFAULT_GAPS,
    models: tuple[str, str] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    rounds: int = 300,
    seed: int = 0,
    workers: int = 0,
    size_factors: tuple[float, ...] = (0.5, 1.0, 2.0),
) -> PowerReport:
    """How many questions separate each gap, by resampling the run's questions.

    For each pair (the named one, else every pair of models adjacent in the leaderboard) the
    standard error of its rating gap is measured by the paired bootstrap at several question
    counts (half, as many and twice as many questions as the run has, drawn with replacement);
    se = scale / sqrt(n) is fitted to them, and the questions needed are the n at which a true
    gap of that size gives a two-sided test at `alpha` the asked power (normal approximation of
    the gap's bootstrap distribution, centred on the true gap). Questions are assumed to come
    with the run's design: the same models, pairs, turns and judges per question."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise DataError("--alpha and --power: expected numbers between 0 and 1")
    if any(g <= 0 for g in gaps):
        raise DataError("--gaps: expected positive rating gaps in Elo points")
    log = paired_log(battles)
    n = log.sums.n_questions
    if n < 2:
        raise DataError(f"only {n} question in these battles; power needs at least 2")
    if models is not None:
        missing = [m for m in models if m not in log.models]
        if missing:
            raise DataError(f"--models: {', '.join(missing)} not in these battles")
        pairs = [(log.models.index(models[0]), log.models.index(models[1]))]
    else:
        order = np.argsort(-log.theta, kind="stable")
        pairs = [(int(order[k]), int(order[k + 1])) for k in range(len(order) - 1)]
    sizes = sorted({max(2, round(n * f)) for f in size_factors})
    ses = np.zeros((len(sizes), len(pairs)))
    for s, size in enumerate(sizes):
        samples, _ = paired_samples(log, rounds, seed + s, workers, size=size)
        for p, (i, j) in enumerate(pairs):
            ses[s, p] = np.std(samples[:, i] - samples[:, j], ddof=1)
    report_pairs = []
    for p, (i, j) in enumerate(pairs):
        scale, exponent = se_scale(np.array(sizes), np.maximum(ses[:, p], 1e-9))
        report_pairs.append(PowerPair(log.models[i], log.models[j], {sz: float(ses[s, p]) for s, sz in enumerate(sizes)}, scale, exponent))
    needed = {float(g): [questions_needed(pp.scale, g, alpha, power) for pp in report_pairs] for g in gaps}
    power_now = {float(g): [power_of(g, pp.scale / np.sqrt(n), alpha) for pp in report_pairs] for g in gaps}
    return PowerReport(n, resampling_unit(n, log.sums.n_battles), alpha, power, rounds, sizes, report_pairs, [float(g) for g in gaps], needed, power_now)


def format_power(r: PowerReport) -> str:
    lines = [
        f"questions needed to separate a rating gap at {100 * (1 - r.alpha):g}% confidence with {100 * r.power:g}% power "
        f"(two-sided paired test), measured by resampling {r.unit} at {', '.join(map(str, r.sizes))} questions, "
        f"{r.rounds} rounds each",
    ]
    if len(r.pairs) == 1:
        pp = r.pairs[0]
        lines.append(f"pair {pp.model_a} vs {pp.model_b}: standard error of the gap {pp.scale / np.sqrt(r.n_questions):.1f} Elo "
                     f"at the run's {r.n_questions} questions (fitted exponent of n {pp.exponent:+.2f}; -0.5 expected)")
    else:
        scales = np.array([pp.scale for pp in r.pairs])
        exps = np.array([pp.exponent for pp in r.pairs])
        lines.append(
            f"{len(r.pairs)} pairs of models adjacent in the ranking; standard error of their gaps at the run's "
            f"{r.n_questions} questions: median {np.median(scales) / np.sqrt(r.n_questions):.1f} Elo "
            f"(range {scales.min() / np.sqrt(r.n_questions):.1f} to {scales.max() / np.sqrt(r.n_questions):.1f}); "
            f"fitted exponent of n: median {np.median(exps):+.2f} (-0.5 expected)"
        )
    header = ["gap (Elo)", "questions needed", "range over pairs", f"power now ({r.n_questions} q)"]
    rows = [header]
    for g in r.gaps:
        need = np.array(r.needed[g])
        now = np.array(r.power_now[g])
        rows.append([
            f"{g:g}", str(int(np.median(need))), f"{need.min()}-{need.max()}" if len(need) > 1 else "-", f"{100 * np.median(now):.0f}%",
        ])
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    lines += ["  ".join(cell.rjust(widths[c]) for c, cell in enumerate(row)) for row in rows]
    return "\n".join(lines)
