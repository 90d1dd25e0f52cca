"""Plain readers for the files of a run folder, each file in, table out, no Streamlit.

Every reader raises a DataError naming the file (and the line or column where it can) for a
missing or malformed file, so the page can show one clear message instead of a traceback. The
readers are lenient about extra columns and strict about the ones the page needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from arena.errors import ArenaError, DataError
from arena.scoring.rows import column_label, how_scored, scoring_label
from arena.store import read_jsonl

BATTLE_FIELDS = ["question_id", "category", "model_a", "model_b", "winner", "judge", "turn", "mode", "games", "consistent", "score_a", "score_b"]
REVIEW_FIELDS = ["judge", "mode", "question_id", "turn", "model_a", "model_b", "first", "raw", "status", "verdict", "winner", "score", "error", "cost_usd"]


NUMERIC = ("rating", "ci_low", "ci_high", "n_battles", "win_rate", "rank", "rank_best", "rank_worst", "elo", "style_rating", "mean", "n", "value")


def read_csv(path: Path, required: list[str] | tuple[str, ...] = (), *, index: bool = False) -> pd.DataFrame:
    """A CSV table with at least the `required` columns (`index`: the first column is the row
    label, as in the ratings' square matrices); the known numeric columns must hold numbers or
    nothing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, index_col=0 if index else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV table ({str(exc).strip().splitlines()[0]})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in NUMERIC:
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = values.isna() & frame[column].notna()
            if bad.any():
                line = int(bad.to_numpy().argmax()) + 2  # the header is line 1
                raise DataError(f"{path}: line {line}: {column}: expected a number, got {frame[column][bad].iloc[0]!r}")
            frame[column] = values
    if "model" in frame.columns:
        frame["model"] = frame["model"].astype(str)
    return frame


def read_matrix(path: Path) -> pd.DataFrame:
    """A square model-by-model table (win_rate.csv, battle_counts.csv, predicted_win_rate.csv)."""
    frame = read_csv(path, index=True)
    rows, cols = [str(x) for x in frame.index], [str(x) for x in frame.columns]
    if sorted(rows) != sorted(cols):
        raise DataError(f"{path}: expected a square table with the same models as rows and columns")
    try:
        frame = frame.astype(float)
    except ValueError:
        raise DataError(f"{path}: expected numbers in every cell") from None
    frame.index, frame.columns = rows, cols
    return frame


def read_json(path: Path, *, missing_ok: bool = False) -> dict[str, Any]:
    """A JSON object file ({} when missing and `missing_ok`)."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return {}
        raise DataError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_jsonl_frame(path: Path, fields: list[str], required: tuple[str, ...]) -> pd.DataFrame:
    """A JSON-lines file as a table of `fields` (missing optional fields are empty); pandas
    parses it fast, and our checked reader names the bad line when pandas cannot."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        return pd.DataFrame(columns=fields)
    try:
        frame = pd.read_json(path, lines=True, dtype=False)
    except (ValueError, UnicodeDecodeError):
        # Names the line (DataError); a file that reads clean here was a pandas quirk.
        frame = pd.DataFrame([obj for _, obj in read_jsonl(path)])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing field(s) {', '.join(missing)} (expected JSON lines with {', '.join(required)})")
    for name in fields:
        if name not in frame.columns:
            frame[name] = None
    frame = frame[fields].copy()
    frame["question_id"] = frame["question_id"].astype(str)
    try:
        frame["turn"] = frame["turn"].fillna(1).astype(int)
    except (TypeError, ValueError):
        raise DataError(f"{path}: turn: expected whole numbers") from None
    return frame


def read_battles(path: Path) -> pd.DataFrame:
    """battles.jsonl with the fields the battle browser shows (question ids as text)."""
    return read_jsonl_frame(path, BATTLE_FIELDS, ("question_id", "model_a", "model_b", "winner", "judge"))


def read_reviews(path: Path) -> pd.DataFrame:
    """reviews/<judge>.jsonl: one row per judge call (both orders of a pair are two rows)."""
    return read_jsonl_frame(path, REVIEW_FIELDS, ("question_id", "model_a", "raw", "status"))


def read_answers(path: Path) -> dict[str, list[str]]:
    """answers/<model>.jsonl as question id -> the answer's turns (FastChat's first choice)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    answers: dict[str, list[str]] = {}
    for number, obj in read_jsonl(path):
        choices = obj.get("choices")
        if "question_id" not in obj or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise DataError(f"{path}:{number}: expected question_id and choices[0].turns (FastChat's answer format)")
        turns = choices[0].get("turns")
        if not isinstance(turns, list):
            raise DataError(f"{path}:{number}: choices[0].turns: expected a list of strings")
        answers[str(obj["question_id"])] = ["" if t is None else str(t) for t in turns]
    return answers


def read_questions(run_root: Path, override: Path | None = None) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Question id -> {category, turns, reference} from the run's config (named in run.json) or
    an explicit question file; with a note instead of questions when neither can be read (the
    browser still shows answers and verdicts)."""
    from arena.config import QuestionsConfig, load_config
    from arena.questions import load_questions

    try:
        if override is not None:
            questions = load_questions(QuestionsConfig(source=str(override)), where=str(override))
        else:
            manifest = read_json(Path(run_root) / "run.json")
            config_path = manifest.get("config")
            if not config_path:
                return {}, f"{Path(run_root) / 'run.json'}: names no config; pass --questions FILE to see the questions"
            config = load_config(config_path)
            qc = config.questions_config
            if qc is None:
                return {}, f"{config_path}: has no question set"
            questions = load_questions(qc, Path(config_path).parent, str(config_path))
    except ArenaError as exc:
        return {}, f"questions not shown: {exc}"
    return {
        str(q.question_id): {"category": q.category, "turns": list(q.turns), "reference": list(q.reference or [])}
        for q in questions
    }, None


def serving_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The answers stage's per-model figures (summary.json's `answers` section) as a table."""
    section = summary.get("answers") or {}
    rows = [{"model": name, **figures} for name, figures in section.items() if isinstance(figures, dict)]
    return pd.DataFrame(rows)


def _scoring(row: pd.Series) -> str:
    return scoring_label(*_how(row))


def _how(row: pd.Series) -> tuple[int | None, str]:
    return how_scored(row.get("n_shot"), row.get("setting"))


def score_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """Rule-based scores (scores/summary.csv: model, benchmark, style, metric, value, and how
    each was scored: n_shot, setting) as one column per benchmark, style, metric and way of
    scoring, one row per model (for the leaderboard). Results of one task scored differently
    (0-shot and 5-shot, with and without a chat template) are separate columns, each header
    saying how; `score_setting_notes` says where that happened."""
    if scores is None or len(scores) == 0:
        return pd.DataFrame(columns=["model"])
    frame = scores.copy()
    for col in ("benchmark", "style", "metric"):
        frame[col] = frame[col].astype(str)
    frame["column"] = [column_label(r["benchmark"], r["style"], r["metric"], *_how(r)) for _, r in frame.iterrows()]
    wide = frame.pivot_table(index="model", columns="column", values="value", aggfunc="last")
    wide.columns.name = None
    return wide.reset_index()


def score_setting_notes(scores: pd.DataFrame | None) -> list[str]:
    """One line per benchmark, style and metric that was scored in more than one way."""
    if scores is None or len(scores) == 0:
        return []
    frame = scores.assign(_how=scores.apply(_scoring, axis=1))
    notes = []
    for (benchmark, style, metric), group in frame.groupby(["benchmark", "style", "metric"], sort=True):
        ways = sorted(set(group["_how"]))
        if len(ways) > 1:
            shown = "; ".join(w or "not recorded" for w in ways)
            notes.append(f"{benchmark} {style} {metric} was scored {len(ways)} ways ({shown}): one column each, not comparable")
    return notes
