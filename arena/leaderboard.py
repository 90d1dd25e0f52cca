"""From a battle table to the leaderboard and the tables beside it, and writing them to a folder.

The ratings stage (`arena.stages.ratings`) and `arena rate` both call `compute_ratings` then
`RatingsResult.write`, so the files are the same whichever made them; docs/RATINGS.md lists every
file and column. The math lives in arena.rating (numpy arrays in, arrays out); this module turns
names into indices, picks the battles of each sub-leaderboard, and lays results out as tables.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arena.battle_log import STYLE_COLUMNS
from arena.config import RatingConfig
from arena.errors import ArenaError, ConfigError
from arena.rating.bootstrap import DRAWS, workers_for
from arena.rating.bt import (
    BASE,
    ELO_PER_UNIT,
    INITIAL,
    SCALE,
    VIRTUAL_TIES,
    predicted_win_rate,
    to_elo,
)
from arena.rating.counts import Cells, aggregate, aggregate_groups, battle_counts, restrict
from arena.rating.paired import QuestionSums, question_bootstrap_bt, question_sums
from arena.rating.ratings import (
    NEVER_LOST,
    NEVER_WON,
    RESAMPLES_REGULARISED,
    Rated,
    bradley_terry_many,
    check_connected,
    elo,
    style_controlled,
)
from arena.rating.scores import mean_scores
from arena.rating.tables import cell_pair_records, cell_records, rank_spread, win_rate_matrix
from arena.significance import format_p, p_vs_next, question_codes, resampling_unit
from arena.store import write_atomic, write_json_atomic

log = logging.getLogger(__name__)

LEADERBOARD_COLUMNS = [
    "model", "rating", "ci_low", "ci_high", "n_battles",
    "win_rate", "win_rate_se", "n_wins", "n_losses", "n_draws",
    "rank", "rank_best", "rank_worst", "p_vs_next",
]
SUB_COLUMNS = ["model", "rating", "ci_low", "ci_high", "n_battles", "win_rate", "rank", "rank_best", "rank_worst"]
SCORE_COLUMNS = ["judge", "model", "turn", "category", "n", "mean", "ci_low", "ci_high"]
# Per-judge leaderboards for logs with many judges (Chatbot Arena's voters) would be noise.
MAX_JUDGE_TABLES = 20

# Every file a ratings folder can hold (the ones that do not apply to a run are not written).
FILES = {
    "leaderboard.csv": "one row per model: rating with 95% bootstrap interval, record, rank spread",
    "summary.json": "settings, counts, warnings, notes, style coefficients, and this list",
    "win_rate.csv": "observed mean score of the row model against the column model",
    "battle_counts.csv": "number of battles between the row and column models",
    "predicted_win_rate.csv": "P(row beats column) from the fitted ratings",
    "head_to_head.csv": "record of each model against each opponent it met",
    "by_category.csv": "one leaderboard per question category",
    "by_judge.csv": "one leaderboard per judge (when there is more than one)",
    "by_turn.csv": "one leaderboard per turn (when there is more than one)",
    "style_control.csv": "style-controlled ratings beside the raw ones",
    "style_coefficients.csv": "Elo points per unit of each style feature",
    "scores.csv": "single-mode mean score per judge, model, turn and category with 95% interval",
}
BASELINE_COLUMN = "win_rate_vs_baseline"


@dataclass
class RatingsResult:
    """Everything the ratings produce: the leaderboard, the other tables by file name, the
    summary (written as summary.json) and the warnings to show."""

    leaderboard: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def table_text(self) -> str:
        """A plain-text leaderboard (and MT-Bench-style score table, for single grading)."""
        return format_table_text(self)

    def write(self, out_dir: Path) -> list[Path]:
        """Write leaderboard.csv, summary.json and the tables to `out_dir`, each file replaced
        atomically; tables of an earlier run that this one does not produce are removed, so the
        folder always describes one run."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "leaderboard.csv"]
        write_atomic(written[0], self.leaderboard.to_csv(index=False))
        for name, table in self.tables.items():
            path = out_dir / name
            write_atomic(path, table.to_csv(index=name in _MATRICES))
            written.append(path)
        for name in FILES:
            stale = out_dir / name
            if name not in ("leaderboard.csv", "summary.json") and name not in self.tables and stale.exists():
                stale.unlink()
        summary = dict(self.summary)
        summary["files"] = {p.name: FILES[p.name] for p in written} | {"summary.json": FILES["summary.json"]}
        write_json_atomic(out_dir / "summary.json", _plain(summary))
        written.append(out_dir / "summary.json")
        return written


# The square tables keep their index (the row model) as the first column; the others have none.
_MATRICES = {"win_rate.csv", "battle_counts.csv", "predicted_win_rate.csv"}


def compute_ratings(
    battles: pd.DataFrame,
    settings: RatingConfig,
    *,
    scores: pd.DataFrame | None = None,
    notes: list[str] | None = None,
    baseline: str | None = None,
    main_judges: list[str] | None = None,
) -> RatingsResult:
    """Leaderboard and tables from a battle table (arena.battle_log's columns) and, optionally,
    single-mode grades (columns judge, model, question_id, turn, category, score).

    Where one model plays in every battle (a pairwise-baseline run, AlpacaEval's and
    arena-hard's logs; `baseline` names it where the source says so), the leaderboard gains
    `win_rate_vs_baseline`: each model's score against it, the baseline's own 0.5 by definition,
    as those tools show it.

    `main_judges` (a run's jury): the leaderboard and every table but by_judge.csv come from
    these judges' battles alone, since the others' (the jury's members) are already in theirs;
    by_judge.csv still has every judge."""
    notes = list(notes or [])
    every_judge = battles
    if main_judges and len(battles):
        kept = battles["judge"].astype(str).isin(main_judges)
        if not kept.any():
            raise ArenaError(f"no battles of {', '.join(main_judges)} (the jury) to rate; run the reviews stage again")
        battles = battles[kept].reset_index(drop=True)
        notes.append(f"leaderboard: the battles of {', '.join(main_judges)} (the jury; its members' own boards are in by_judge.csv)")
    warnings: list[str] = []
    skipped: list[str] = []
    workers = workers_for(settings.workers)
    methods = list(dict.fromkeys(settings.methods))
    tables: dict[str, pd.DataFrame] = {}
    if len(battles) == 0:
        if scores is None or len(scores) == 0:
            raise ArenaError("no battles to rate: every judge call failed or none ran; check the reviews stage's summary")
        skipped.append("leaderboard: no battles (single grading of fewer than two models); only scores.csv is written")
        leaderboard = pd.DataFrame(columns=LEADERBOARD_COLUMNS)
        models: list[str] = []
    else:
        log = _encode(battles)
        models = log.models
        _check_anchor(settings, models)
        overall = aggregate(log.a, log.b, log.x, len(models), log.w)
        subsets = [_Subset(None, None, overall, None)]
        sliced: list[dict[str, Any]] = []  # each sub-leaderboard's warnings and notes, for summary.json
        for column, enabled, limit in (
            ("category", settings.per_category, None),
            ("judge", every_judge is battles, MAX_JUDGE_TABLES),
            ("turn", True, None),
        ):
            if enabled:
                subsets += _split(battles, log, column, limit, skipped)
        # The paired test's per-question sums are built while the leaderboards' rounds run:
        # sorting 2M battles by question is mostly numpy work that leaves the interpreter free.
        wants_p = "bt" in methods and settings.bootstrap > 0
        with ThreadPoolExecutor(max_workers=1) as early:
            questions = early.submit(_question_sums, battles, log) if wants_p else None
            boards = _rate(log, subsets, settings, methods, workers)
            sums, unit = questions.result() if questions is not None else (None, "")
        if every_judge is not battles:  # by_judge.csv over every judge, jury and members alike
            judge_log = _encode(every_judge)
            judge_subsets = _split(every_judge, judge_log, "judge", MAX_JUDGE_TABLES, skipped)
            subsets += judge_subsets
            boards += _rate(judge_log, judge_subsets, settings, methods, workers, first_is_log=False)
        main = boards[0]
        if isinstance(main, ArenaError):
            raise main
        warnings += main.rated.warnings
        notes += main.rated.notes
        leaderboard = main.frame
        order = leaderboard["model"].tolist()
        if wants_p:
            p_next = _p_vs_next(sums, log, main.rated, order, settings, workers)
            leaderboard.insert(leaderboard.columns.get_loc("rank_worst") + 1, "p_vs_next", p_next)
            notes.append(f"p_vs_next: paired bootstrap over {unit} (arena compare's test), seed {settings.seed}")
        tables.update(_matrices(overall, models, order, main.rated.rating))
        tables["head_to_head.csv"] = _head_to_head(overall, models)
        baseline = common_baseline(overall, models, baseline)
        if baseline is not None:
            leaderboard[BASELINE_COLUMN] = _vs_baseline(tables["head_to_head.csv"], leaderboard["model"], baseline)
        style = _style_table(battles, log, settings, workers, leaderboard, warnings, skipped)
        if style is not None:
            tables["style_control.csv"], tables["style_coefficients.csv"], style_cols = style
            leaderboard = leaderboard.merge(style_cols, on="model", how="left")
        for column, file in (("category", "by_category.csv"), ("judge", "by_judge.csv"), ("turn", "by_turn.csv")):
            table = _split_table(column, subsets, boards, sliced, skipped)
            if table is not None:
                tables[file] = table
        grouped_warnings, grouped_notes = group_slice_findings(sliced)
        warnings += grouped_warnings
        notes += grouped_notes
    if scores is not None and len(scores):
        tables["scores.csv"] = score_table(scores, settings.bootstrap, settings.seed)
    summary = _summary(battles, models, settings, methods, leaderboard, tables, warnings, notes, skipped)
    summary["judges"] = sorted(map(str, every_judge["judge"].unique())) if len(every_judge) else []
    summary["main_judges"] = list(main_judges) if main_judges else None
    summary["baseline"] = baseline if len(battles) else None
    summary["slice_findings"] = sliced if len(battles) else []
    return RatingsResult(leaderboard=leaderboard, tables=tables, summary=summary, warnings=warnings)


def common_baseline(cells: Cells, models: list[str], named: str | None = None) -> str | None:
    """The model in every battle: `named` where it is, else the one such model of a log with
    three models or more (with two, both are in every battle and neither is the baseline)."""
    played = np.bincount(cells.i, cells.count, len(models)) + np.bincount(cells.j, cells.count, len(models))
    in_all = [models[k] for k in np.flatnonzero(played == cells.n_battles)]
    if named is not None:
        return named if named in in_all else None
    return in_all[0] if len(in_all) == 1 and len(models) >= 3 else None


def _vs_baseline(head_to_head: pd.DataFrame, models: pd.Series, baseline: str) -> np.ndarray:
    against = head_to_head[head_to_head["opponent"] == baseline].set_index("model")["win_rate"]
    return np.array([0.5 if m == baseline else float(against.get(m, np.nan)) for m in models])


@dataclass
class _Log:
    """The battle table as arrays: model indices into `models` (sorted names), outcome, weight;
    `replay` the order online Elo replays the battles in (None: as given)."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    x: np.ndarray
    w: np.ndarray
    replay: np.ndarray | None


def _encode(battles: pd.DataFrame) -> _Log:
    """Names to indices once for the whole log: every leaderboard, table and slice then works on
    integer arrays and cells, never on a copy of the table."""
    models = sorted(set(battles["model_a"].unique()) | set(battles["model_b"].unique()))
    lookup = pd.Index(models)
    a = lookup.get_indexer(battles["model_a"]).astype(np.int64)
    b = lookup.get_indexer(battles["model_b"]).astype(np.int64)
    # Online Elo replays battles in time order where every battle has a timestamp (Chatbot
    # Arena's logs), else in the order given (our battles.jsonl is written in question order).
    tstamp = battles["tstamp"].to_numpy(dtype=np.float64)
    replay = np.argsort(tstamp, kind="stable") if len(tstamp) and not np.isnan(tstamp).any() else None
    return _Log(
        models, a, b, battles["outcome"].to_numpy(dtype=np.float64), battles["weight"].to_numpy(dtype=np.float64), replay
    )


def _check_anchor(settings: RatingConfig, models: list[str]) -> None:
    if settings.anchor is not None and settings.anchor.model not in models:
        raise ConfigError(
            f"ratings.anchor.model (--anchor): {settings.anchor.model!r} has no battles; "
            f"expected one of {', '.join(models)}"
        )


@dataclass
class _Subset:
    """The battles of one leaderboard: all (column None) or those with `column` == `value`, as
    cells over the log's models; `group` (the value's code per battle) picks them for online Elo."""

    column: str | None
    value: Any
    cells: Cells
    group: tuple[np.ndarray, int] | None


@dataclass
class _Board:
    frame: pd.DataFrame
    rated: Rated


def _split(battles: pd.DataFrame, log: _Log, column: str, limit: int | None, skipped: list[str]) -> list[_Subset]:
    """One subset per value of `column` (category, judge, turn), aggregated in one pass; none
    when the column has a single value, or more than `limit` values."""
    codes, uniques = pd.factorize(battles[column], use_na_sentinel=False)
    values = [plain_value(v) for v in uniques]
    if len(values) < 2:
        return []
    if limit is not None and len(values) > limit:
        skipped.append(f"{column} leaderboards: {len(values)} {column}s (more than {limit}); not split")
        return []
    cells = aggregate_groups(codes, len(values), log.a, log.b, log.x, len(log.models), log.w)
    ordered = sorted(range(len(values)), key=lambda k: str(values[k]))
    return [_Subset(column, values[k], cells[k], (codes, k)) for k in ordered]


def _rate(
    log: _Log, subsets: list[_Subset], settings: RatingConfig, methods: list[str], workers: int, *, first_is_log: bool = True
) -> list[_Board | ArenaError]:
    """One leaderboard per subset (the first the full log, unless `first_is_log` is False): the
    primary rating (BT if asked for, else Elo) with interval, the record, the rank spread, and
    online Elo beside BT on the full log when both are asked for. Bradley-Terry's bootstrap rounds of every subset run in
    one pool. A subset that cannot be rated gets the ArenaError saying why."""
    anchor_rating = settings.anchor.rating if settings.anchor else INITIAL
    local = [restrict(s.cells) for s in subsets]
    names = [[log.models[k] for k in present] for _, present in local]
    anchors = [
        names_k.index(settings.anchor.model) if settings.anchor and settings.anchor.model in names_k else None
        for names_k in names
    ]
    if "bt" in methods:
        rated_all = bradley_terry_many(
            [c for c, _ in local], names, rounds=settings.bootstrap, seed=settings.seed, anchors=anchors,
            anchor_rating=anchor_rating, workers=workers,
        )
    else:
        rated_all = [_online_elo(log, s, c, present, who, anchor, settings) for s, (c, present), who, anchor in zip(subsets, local, names, anchors)]
    boards: list[_Board | ArenaError] = []
    for k, (rated, (cells, _), who) in enumerate(zip(rated_all, local, names)):
        if isinstance(rated, ArenaError):
            boards.append(rated)
            continue
        record = cell_records(cells)
        rank, best, worst = rank_spread(rated.rating, rated.ci_low, rated.ci_high)
        frame = pd.DataFrame(
            {
                "model": who,
                "rating": rated.rating,
                "ci_low": rated.ci_low,
                "ci_high": rated.ci_high,
                "n_battles": record.n_battles,
                "win_rate": record.win_rate,
                "win_rate_se": record.win_rate_se,
                "n_wins": record.n_wins,
                "n_losses": record.n_losses,
                "n_draws": record.n_draws,
                "rank": rank,
                "rank_best": best,
                "rank_worst": worst,
            }
        )
        if k == 0 and first_is_log and "bt" in methods and "elo" in methods:
            a, b, x, w = _in_replay_order(log, None)
            online = elo(a, b, x, len(who), k=settings.elo_k, weight=w, anchor=anchors[0], anchor_rating=anchor_rating)
            frame["elo"] = online.rating
        boards.append(_Board(frame.sort_values(["rank", "model"], kind="stable").reset_index(drop=True), rated))
    return boards


def _question_sums(battles: pd.DataFrame, log: _Log) -> tuple[QuestionSums | None, str]:
    """The paired test's per-question sums (None where every question holds one battle: the
    leaderboard's own rounds are then that test's rounds), and what it resamples, for notes."""
    q = question_codes(battles)
    n_questions = int(q.max()) + 1
    unit = resampling_unit(n_questions, len(battles))
    if n_questions == len(battles):
        return None, unit
    return question_sums(q, log.a, log.b, log.x, len(log.models), log.w), unit


def _p_vs_next(
    sums: QuestionSums | None, log: _Log, rated: Rated, order: list[str], settings: RatingConfig, workers: int
) -> np.ndarray:
    """Each row's paired p-value against the next row down (arena.significance), from the
    leaderboard's own rounds where every question holds one battle, else from rounds that
    resample questions, every battle of one moving together."""
    samples = rated.samples
    if sums is not None:
        start = (rated.rating - rated.rating.mean()) / ELO_PER_UNIT
        prior = VIRTUAL_TIES if rated.regularised else 0.0
        theta, _ = question_bootstrap_bt(sums, settings.bootstrap, settings.seed, start=start, prior=prior, workers=workers)
        samples = to_elo(theta)
    assert samples is not None  # Bradley-Terry with rounds keeps them
    return p_vs_next(log.models, order, rated.rating, samples)


def _in_replay_order(log: _Log, group: tuple[np.ndarray, int] | None) -> tuple[np.ndarray, ...]:
    """(a, b, x, w) of the battles in `group` (all for None), in replay order."""
    order = log.replay if log.replay is not None else np.arange(len(log.a))
    if group is not None:
        codes, value = group
        order = order[codes[order] == value]
    return log.a[order], log.b[order], log.x[order], log.w[order]


def _online_elo(
    log: _Log, subset: _Subset, cells: Cells, present: np.ndarray, names: list[str], anchor: int | None, settings: RatingConfig
) -> Rated | ArenaError:
    try:
        check_connected(battle_counts(cells), names)
    except ArenaError as exc:
        return exc
    a, b, x, w = _in_replay_order(log, subset.group)
    local = np.full(len(log.models), -1, dtype=np.int64)
    local[present] = np.arange(len(present))
    return elo(
        local[a], local[b], x, len(names), k=settings.elo_k, weight=w, rounds=settings.bootstrap, seed=settings.seed,
        anchor=anchor, anchor_rating=settings.anchor.rating if settings.anchor else INITIAL,
    )


def _matrices(cells: Cells, models: list[str], order: list[str], rating: np.ndarray) -> dict[str, pd.DataFrame]:
    pos = [models.index(name) for name in order]

    def square(values: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(values[np.ix_(pos, pos)], index=order, columns=order)
        frame.index.name = "model"
        return frame

    return {
        "win_rate.csv": square(win_rate_matrix(cells)),
        "battle_counts.csv": square(battle_counts(cells)),
        "predicted_win_rate.csv": square(predicted_win_rate(rating)),
    }


def _head_to_head(cells: Cells, models: list[str]) -> pd.DataFrame:
    model, opponent, rec = cell_pair_records(cells)
    names = np.array(models, dtype=object)
    return pd.DataFrame(
        {
            "model": names[model],
            "opponent": names[opponent],
            "n_battles": rec.n_battles,
            "win_rate": rec.win_rate,
            "win_rate_se": rec.win_rate_se,
            "n_wins": rec.n_wins,
            "n_losses": rec.n_losses,
            "n_draws": rec.n_draws,
        }
    )


def _style_table(
    battles: pd.DataFrame,
    log: _Log,
    settings: RatingConfig,
    workers: int,
    leaderboard: pd.DataFrame,
    warnings: list[str],
    skipped: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    if not settings.style_control:
        return None
    missing = int(battles[list(STYLE_COLUMNS)].isna().any(axis=1).sum())
    if missing:
        skipped.append(f"style control: {missing} of {len(battles)} battles carry no style features (answer length, markdown)")
        return None
    models, a, b = log.models, log.a, log.b
    anchor = models.index(settings.anchor.model) if settings.anchor else None
    style_a = battles[[c for c in STYLE_COLUMNS if c.startswith("style_a_")]].to_numpy(dtype=np.float64)
    style_b = battles[[c for c in STYLE_COLUMNS if c.startswith("style_b_")]].to_numpy(dtype=np.float64)
    try:
        rated = style_controlled(
            a, b, battles["outcome"].to_numpy(), style_a, style_b, models,
            weight=battles["weight"].to_numpy(), rounds=settings.bootstrap, seed=settings.seed,
            anchor=anchor, anchor_rating=settings.anchor.rating if settings.anchor else INITIAL, workers=workers,
        )
    except (ArithmeticError, np.linalg.LinAlgError) as exc:
        # The raw leaderboard stands; the style-controlled one cannot be identified here.
        skipped.append(f"style control: not identifiable on these {len(battles)} battles ({exc})")
        return None
    # The regularisation notes are the main fit's too; add only what is new.
    warnings += [f"style control: {w}" for w in rated.warnings if w not in warnings]
    raw = leaderboard.set_index("model")["rating"].reindex(models).to_numpy()
    rank, best, worst = rank_spread(rated.rating, rated.ci_low, rated.ci_high)
    raw_rank, _, _ = rank_spread(raw, raw, raw)
    table = pd.DataFrame(
        {
            "model": models,
            "rating": rated.rating,
            "ci_low": rated.ci_low,
            "ci_high": rated.ci_high,
            "rating_raw": raw,
            "rating_delta": rated.rating - raw,
            "rank": rank,
            "rank_raw": raw_rank,
            "rank_best": best,
            "rank_worst": worst,
        }
    ).sort_values(["rank", "model"], kind="stable").reset_index(drop=True)
    coefficients = pd.DataFrame(
        {"feature": rated.features, "coef": rated.coef, "ci_low": rated.coef_low, "ci_high": rated.coef_high}
    )
    columns = table[["model", "rating", "ci_low", "ci_high"]].rename(
        columns={"rating": "style_rating", "ci_low": "style_ci_low", "ci_high": "style_ci_high"}
    )
    return table, coefficients, columns


def _split_table(
    column: str,
    subsets: list[_Subset],
    boards: list[_Board | ArenaError],
    sliced: list[dict[str, Any]],
    skipped: list[str],
) -> pd.DataFrame | None:
    """The leaderboards of `column`'s values (category, judge, turn) in one long table; None
    when the log was not split by it. A value whose battles cannot be rated is skipped with a
    note; each sub-leaderboard's warnings and notes go to `sliced` (grouped for the log by
    group_slice_findings, kept whole in summary.json)."""
    parts = []
    for subset, board in zip(subsets, boards):
        if subset.column != column:
            continue
        if isinstance(board, ArenaError):
            skipped.append(f"{column} {subset.value}: not rated ({board})")
            continue
        rated = board.rated
        for level, texts, kinds in (("warning", rated.warnings, rated.warning_kinds), ("note", rated.notes, rated.note_kinds)):
            for text, kind in zip(texts, kinds):
                sliced.append({"column": column, "value": subset.value, "level": level, "kind": kind, "message": text})
        frame = board.frame[SUB_COLUMNS].copy()
        frame.insert(0, column, subset.value)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else None


def plain_value(value: Any) -> Any:
    """A numpy scalar as the plain number or text it holds (so messages say `turn 1`)."""
    return value.item() if isinstance(value, np.generic) else value


# One line per kind of finding over the sub-leaderboards (what the line says, and its level).
_SLICE_KINDS = {
    NEVER_LOST: ("a model never lost a battle; its rating there is a lower bound (lightly regularised)", "warning"),
    NEVER_WON: ("a model never won or tied a battle; its rating there is an upper bound (lightly regularised)", "warning"),
    RESAMPLES_REGULARISED: ("some bootstrap resamples left a model without a loss or a win and were regularised; "
                            "intervals there are approximate", "note"),
}
_PLURAL = {"category": "categories", "judge": "judges", "turn": "turns"}
_SHOWN = 8


def group_slice_findings(sliced: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(warnings, notes): one line per kind and per split column, with the count and the
    slices, instead of one line per slice (the details stay in summary.json)."""
    warnings: list[str] = []
    notes: list[str] = []
    for column in ("category", "judge", "turn"):
        for kind, (what, level) in _SLICE_KINDS.items():
            values = list(dict.fromkeys(f["value"] for f in sliced if f["column"] == column and f["kind"] == kind))
            if not values:
                continue
            shown = ", ".join(str(v) for v in values[:_SHOWN]) + (f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")
            where = f"{column} {shown}" if len(values) == 1 else f"{len(values)} {_PLURAL[column]} ({shown})"
            line = f"{column} leaderboards, {where}: {what}; details in summary.json slice_findings"
            (warnings if level == "warning" else notes).append(line)
    # REGULARISED findings come with a NEVER_LOST or NEVER_WON one, whose line says it already.
    return warnings, notes


def score_table(scores: pd.DataFrame, rounds: int, seed: int) -> pd.DataFrame:
    """Mean single-mode score per judge and model, over all turns and per turn ("turn" column:
    "all", "1", "2", ...), over all categories and per category, with 95% bootstrap intervals."""
    rows = []
    frame = scores.assign(turn=scores["turn"].astype(str), category=scores["category"].fillna("").astype(str))
    views = [(frame.assign(turn="all", category="all"))]
    if frame["turn"].nunique() > 1:
        views.append(frame.assign(category="all"))
    if frame["category"].nunique() > 1:
        views.append(frame.assign(turn="all"))
    long = pd.concat(views, ignore_index=True)
    keys = ["judge", "model", "turn", "category"]
    codes, uniques = pd.MultiIndex.from_frame(long[keys]).factorize()
    summary = mean_scores(codes, long["score"].to_numpy(dtype=np.float64), len(uniques), rounds=rounds, seed=seed)
    for k, key in enumerate(uniques):
        rows.append((*key, int(summary.n[k]), summary.mean[k], summary.ci_low[k], summary.ci_high[k]))
    table = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    turn_order = table["turn"].map(lambda t: (0, 0) if t == "all" else (1, int(t)) if t.isdigit() else (2, t))
    table = table.assign(_t=turn_order, _c=table["category"] != "all")
    return table.sort_values(["judge", "_c", "category", "_t", "mean"], ascending=[True, True, True, True, False], kind="stable").drop(columns=["_t", "_c"]).reset_index(drop=True)


def _summary(
    battles: pd.DataFrame,
    models: list[str],
    settings: RatingConfig,
    methods: list[str],
    leaderboard: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    warnings: list[str],
    notes: list[str],
    skipped: list[str],
) -> dict[str, Any]:
    method = "bt" if "bt" in methods else "elo"
    summary: dict[str, Any] = {
        "method": method,
        "methods": methods,
        "scale": SCALE,
        "base": BASE,
        "centre": INITIAL,
        "anchor": None if settings.anchor is None else {"model": settings.anchor.model, "rating": settings.anchor.rating},
        "bootstrap": settings.bootstrap,
        "bootstrap_draws": DRAWS,
        "seed": settings.seed,
        "elo_k": settings.elo_k,
        "n_battles": int(len(battles)),
        "n_models": len(models),
        "battle_weight": float(battles["weight"].sum()) if len(battles) else 0.0,
        "judges": sorted(map(str, battles["judge"].unique())) if len(battles) else [],
        "turns": sorted(int(t) for t in battles["turn"].unique()) if len(battles) else [],
        "categories": sorted(map(str, battles["category"].unique())) if len(battles) else [],
        "warnings": warnings,
        "notes": notes,
        "skipped": skipped,
        "leaderboard": leaderboard.to_dict(orient="records"),
    }
    if "style_coefficients.csv" in tables:
        summary["style_control"] = tables["style_coefficients.csv"].to_dict(orient="records")
    return summary


def _plain(value: Any) -> Any:
    """JSON-ready: NaN becomes null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    return value


def format_table_text(result: RatingsResult) -> str:
    lb = result.leaderboard
    s = result.summary
    lines = []
    if len(lb):
        name = "Bradley-Terry" if s.get("method") == "bt" else f"online Elo (K={s.get('elo_k')})"
        anchor = s.get("anchor")
        where = f"{anchor['model']} pinned at {anchor['rating']:g}" if anchor else "centred on 1000"
        lines.append(
            f"{name} ratings, Elo scale ({where}), 95% interval from {s.get('bootstrap')} bootstrap rounds; "
            f"{s.get('n_battles')} battles, {s.get('n_models')} models"
        )
        header = ["rank", "model", "rating", "95% CI", "battles", "win rate"]
        if BASELINE_COLUMN in lb:
            header.append(f"vs {s.get('baseline')}")
        if "elo" in lb:
            header.append("elo")
        if "style_rating" in lb:
            header.append("style-ctl")
        header.append("ranks")
        if "p_vs_next" in lb:
            header.append("p vs next")
        body = []
        for row in lb.itertuples(index=False):
            ci = "-" if np.isnan(row.ci_low) else f"{row.ci_low - row.rating:+.1f}/{row.ci_high - row.rating:+.1f}"
            cells = [str(row.rank), row.model, f"{row.rating:.1f}", ci, str(row.n_battles), f"{100 * row.win_rate:.1f}%"]
            if BASELINE_COLUMN in lb:
                cells.append(f"{100 * getattr(row, BASELINE_COLUMN):.1f}%")
            if "elo" in lb:
                cells.append(f"{row.elo:.1f}")
            if "style_rating" in lb:
                cells.append("-" if np.isnan(row.style_rating) else f"{row.style_rating:.1f}")
            cells.append(f"{row.rank_best}-{row.rank_worst}" if row.rank_best != row.rank_worst else str(row.rank_best))
            if "p_vs_next" in lb:
                cells.append(format_p(row.p_vs_next, s.get("bootstrap")))
            body.append(cells)
        lines += _align([header, *body], left={1})
    scores = result.tables.get("scores.csv")
    if scores is not None and len(scores):
        lines.append("")
        lines.append("single-grading mean scores (95% interval)")
        overall = scores[scores["category"] == "all"]
        turns = [t for t in overall["turn"].unique() if t != "all"]
        header = ["judge", "model", *[f"turn {t}" for t in turns], "all turns"]
        body = []
        for (judge, model), group in overall.groupby(["judge", "model"], sort=False):
            by_turn = group.set_index("turn")
            cells = [judge, model]
            for t in [*turns, "all"]:
                r = by_turn.loc[t] if t in by_turn.index else None
                cells.append("-" if r is None else f"{r['mean']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
            body.append(cells)
        lines += _align([header, *body], left={0, 1})
    return "\n".join(lines)


def _align(rows: list[list[str]], left: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(widths[i]) if i in left else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
        for r in rows
    ]
