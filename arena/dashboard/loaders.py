"""What the page looks at (a run folder or a bare battle log) and cached access to its files.

Each cached reader is keyed by the file's path and modification time, so a re-run stage shows up
on the next interaction without a restart, and a file is parsed once however often the page
reruns. Nothing reads the raw battles until a view needs them: the leaderboard's first paint
reads only the ratings stage's precomputed tables (ratings/*.csv, a few kilobytes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from arena.dashboard import files
from arena.errors import ArenaError, DataError
from arena.rundir import RunDir

RATING_TABLES = {
    "leaderboard": "leaderboard.csv",
    "win_rate": "win_rate.csv",
    "predicted_win_rate": "predicted_win_rate.csv",
    "battle_counts": "battle_counts.csv",
    "by_category": "by_category.csv",
    "by_judge": "by_judge.csv",
    "by_turn": "by_turn.csv",
    "style_control": "style_control.csv",
    "scores": "scores.csv",
}
MATRICES = ("win_rate", "predicted_win_rate", "battle_counts")
REQUIRED = {
    "leaderboard": ("model", "rating", "ci_low", "ci_high", "n_battles", "win_rate", "rank"),
    "by_category": ("category", "model", "rating", "ci_low", "ci_high"),
    "by_judge": ("judge", "model", "rating", "ci_low", "ci_high"),
    "by_turn": ("turn", "model", "rating", "ci_low", "ci_high"),
    "style_control": ("model", "rating", "ci_low", "ci_high"),
    "scores": ("judge", "model", "turn", "category", "n", "mean", "ci_low", "ci_high"),
}
SCORE_SUMMARY_COLUMNS = ("model", "benchmark", "style", "metric", "value")


def stamp(path: Path) -> int:
    """The cache key's version of a file: its modification time (0 when absent)."""
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return 0


@dataclass(frozen=True)
class Source:
    """A run folder (`root`) or a bare battle log (`battle_file`), and optional extras."""

    root: Path | None = None
    battle_file: Path | None = None
    questions: Path | None = None
    compare: Path | None = None
    #: The Review view's reviewer: a fixed name, or the request header an authenticating proxy
    #: sets; neither: each browser session is asked once.
    reviewer: str | None = None
    reviewer_header: str | None = None
    #: The server may listen beyond this machine (arena dashboard --allow-remote).
    allow_remote: bool = False

    @property
    def is_run(self) -> bool:
        return self.root is not None

    @property
    def label(self) -> str:
        return str(self.root if self.root is not None else self.battle_file)

    @property
    def run(self) -> RunDir:
        assert self.root is not None
        return RunDir(self.root)

    @property
    def battles_path(self) -> Path:
        return self.battle_file if self.battle_file is not None else self.run.battles

    def check(self) -> None:
        if self.root is not None and not self.root.is_dir():
            raise DataError(f"{self.root}: run folder not found")
        if self.battle_file is not None and not self.battle_file.is_file():
            raise DataError(f"{self.battle_file}: battle file not found")


# --- cached readers (path as text + stamp: hashable keys) ----------------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def _csv(path: str, version: int, required: tuple[str, ...], index: bool) -> pd.DataFrame:
    return files.read_csv(Path(path), required, index=index)


@st.cache_data(show_spinner=False, max_entries=64)
def _matrix(path: str, version: int) -> pd.DataFrame:
    return files.read_matrix(Path(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _json(path: str, version: int, missing_ok: bool) -> dict[str, Any]:
    return files.read_json(Path(path), missing_ok=missing_ok)


@st.cache_data(show_spinner="Reading battles...", max_entries=4)
def _battles(path: str, version: int, ours: bool) -> pd.DataFrame:
    if ours:
        return files.read_battles(Path(path))
    # A bare log may be Chatbot Arena's or AlpacaEval's: read it as `arena rate` does.
    from arena.battle_log import read_battle_log

    frame = read_battle_log(Path(path)).battles
    for name in files.BATTLE_FIELDS:
        if name not in frame.columns:
            frame[name] = None
    return frame[files.BATTLE_FIELDS].astype({"question_id": str})


@st.cache_data(show_spinner="Reading judge reviews...", max_entries=8)
def _reviews(path: str, version: int) -> pd.DataFrame:
    return files.read_reviews(Path(path))


@st.cache_data(show_spinner=False, max_entries=256)
def _answers(path: str, version: int) -> dict[str, list[str]]:
    return files.read_answers(Path(path))


@st.cache_data(show_spinner="Reading questions...", max_entries=4)
def _questions(root: str, version: int, override: str | None) -> tuple[dict[str, dict[str, Any]], str | None]:
    return files.read_questions(Path(root), Path(override) if override else None)


@st.cache_data(show_spinner="Rating the battle log...", max_entries=4)
def _rated_log(path: str, version: int) -> dict[str, Any]:
    """A bare battle log has no ratings folder: rate it once (as `arena rate` would)."""
    from arena.battle_log import read_battle_log
    from arena.config import RatingConfig
    from arena.leaderboard import compute_ratings

    log = read_battle_log(Path(path))
    result = compute_ratings(log.battles, RatingConfig(bootstrap=200, workers=1), notes=log.notes)
    tables = {key: result.tables[name] for key, name in RATING_TABLES.items() if name in result.tables}
    for key in MATRICES:
        if key in tables:
            frame = tables[key].copy()
            frame.index = [str(x) for x in frame.index]
            tables[key] = frame
    tables["leaderboard"] = result.leaderboard
    return {"tables": tables, "summary": result.summary}


# --- what the views call ---------------------------------------------------------------------------


def rating_table(source: Source, key: str) -> pd.DataFrame | None:
    """One table of the ratings folder (None when the run has none: e.g. no by_judge.csv for a
    one-judge run); a malformed file raises a DataError naming it."""
    if not source.is_run:
        return _rated_log(str(source.battle_file), stamp(source.battle_file))["tables"].get(key)
    path = source.run.ratings / RATING_TABLES[key]
    if not path.exists():
        if key == "leaderboard":
            raise DataError(f"{path}: file not found; run the ratings stage (arena run -c CONFIG --stages ratings)")
        return None
    if key in MATRICES:
        return _matrix(str(path), stamp(path))
    return _csv(str(path), stamp(path), REQUIRED.get(key, ()), False)


def ratings_summary(source: Source) -> dict[str, Any]:
    """ratings/summary.json (judges, turns, categories, methods, bootstrap...)."""
    if not source.is_run:
        return _rated_log(str(source.battle_file), stamp(source.battle_file))["summary"]
    path = source.run.ratings / "summary.json"
    return _json(str(path), stamp(path), True)


def run_summary(source: Source) -> dict[str, Any]:
    """The run's summary.json (serving figures, judge costs); {} for a battle log."""
    if not source.is_run:
        return {}
    path = source.run.summary
    return _json(str(path), stamp(path), True)


def benchmark_scores(source: Source) -> pd.DataFrame | None:
    """scores/summary.csv (our scores stage and imported lm-eval / EvalScope results)."""
    if not source.is_run:
        return None
    path = source.run.scores / "summary.csv"
    if not path.exists():
        return None
    return _csv(str(path), stamp(path), SCORE_SUMMARY_COLUMNS, False)


def battles(source: Source) -> pd.DataFrame:
    path = source.battles_path
    if not path.exists():
        raise DataError(f"{path}: file not found; run the reviews stage first")
    return _battles(str(path), stamp(path), source.is_run)


def reviews(source: Source, judge: str) -> pd.DataFrame | None:
    if not source.is_run:
        return None
    path = source.run.reviews(judge)
    if not path.exists():
        return None
    return _reviews(str(path), stamp(path))


def judges_with_reviews(source: Source) -> list[str]:
    if not source.is_run:
        return []
    folder = source.run.root / "reviews"
    return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def answers(source: Source, model: str) -> dict[str, list[str]] | None:
    """One model's answers by question id (None when the run has no answers file for it)."""
    if not source.is_run:
        return None
    path = source.run.answers(model)
    if not path.exists():
        return None
    return _answers(str(path), stamp(path))


def questions(source: Source) -> tuple[dict[str, dict[str, Any]], str | None]:
    if not source.is_run:
        if source.questions is None:
            return {}, "a bare battle log has no questions; pass --questions FILE to see them"
        return _questions(str(source.battle_file.parent), 0, str(source.questions))
    manifest = source.run.manifest
    return _questions(str(source.root), stamp(manifest), str(source.questions) if source.questions else None)


@st.cache_data(show_spinner=False, max_entries=8)
def _model_ids(root: str, version: int) -> dict[str, str]:
    from arena.config import load_config

    config = files.read_json(Path(root) / "run.json", missing_ok=True).get("config")
    try:
        return {m.name: m.model_id for m in load_config(config).models} if config else {}
    except ArenaError:
        return {}  # a moved or edited config only costs the cost column


def model_ids(source: Source) -> dict[str, str]:
    """Model name -> provider model id, from the run's config (for prices)."""
    if not source.is_run:
        return {}
    return _model_ids(str(source.root), stamp(source.run.manifest))


@st.cache_data(show_spinner=False, max_entries=8)
def _probability_judges(root: str, version: int) -> tuple[str, ...]:
    from arena.config import load_config

    config = files.read_json(Path(root) / "run.json", missing_ok=True).get("config")
    try:
        judges = load_config(config).judges if config else []
    except ArenaError:
        return ()
    return tuple(j.name for j in judges if j.verdict_weighting == "probability")


def probability_judges(source: Source) -> tuple[str, ...]:
    """The run's judges with probability-weighted verdicts (their battles carry a confidence)."""
    if not source.is_run:
        return ()
    return _probability_judges(str(source.root), stamp(source.run.manifest))


# The review's index holds the battle log in pyarrow and numpy and is only read: a shared
# resource, not a per-call copy (st.cache_data would pickle 2M battles on every vote).
@st.cache_resource(show_spinner="Indexing battles for review...", max_entries=2)
def _review_items(path: str, version: int, probability: tuple[str, ...]):  # -> review_queue.ReviewItems
    from arena.dashboard.review_queue import build_items, read_battle_columns

    return build_items(read_battle_columns(Path(path)), probability)


def review_items(source: Source):  # -> review_queue.ReviewItems
    path = source.battles_path
    if not path.exists():
        raise DataError(f"{path}: file not found; run the reviews stage first")
    return _review_items(str(path), stamp(path), probability_judges(source))


@st.cache_resource(show_spinner=False, max_entries=16)
def _review_queue(path: str, version: int, probability: tuple[str, ...], sampling: str, category: str | None):
    from arena.dashboard.review_queue import queue

    return queue(_review_items(path, version, probability), sampling, category)


def review_queue(source: Source, sampling: str, category: str | None):  # -> np.ndarray of item indices
    path = source.battles_path
    return _review_queue(str(path), stamp(path), probability_judges(source), sampling, category)


@st.cache_data(show_spinner=False, max_entries=8)
def _human_votes(path: str, version: tuple[int, int]) -> list:
    from arena.human_votes import read_human_votes

    return read_human_votes(Path(path))


def human_votes(source: Source) -> list:
    """Every vote of the run's human/votes.jsonl, history included ([] before the first)."""
    from arena.human_votes import votes_path

    if not source.is_run:
        return []
    path = votes_path(source.root)
    if not path.exists():
        return []
    # Size as well as time: two votes within the file system's clock tick still differ.
    return _human_votes(str(path), (path.stat().st_size, stamp(path)))
