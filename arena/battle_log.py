"""Battle logs from any source, as one table for rating.

Three formats are read (`read_battle_log(path, fmt)`, `fmt="auto"` guesses from the content):

- `battles`: our `battles.jsonl` (arena.records.Battle rows, with outcome, weight and style).
- `arena`: Chatbot Arena's published battle logs (also MT-Bench's human judgments): a JSON list,
  or JSON lines, of rows with `model_a`, `model_b`, `winner` (model_a | model_b | tie |
  tie (bothbad)) and optionally `judge`, `turn`, `anony`, `tstamp`, `question_id`, `category`,
  and `conv_metadata` (answer token counts and markdown counts, read as style). Other fields
  are ignored.
- `alpaca-eval`: what AlpacaEval publishes: `annotations.json` files, or its `results/` folder
  (`results/<model>/<annotator>/annotations.json`; see arena.imports.alpaca_eval). One judgment
  per annotation: model_a = `generator_2` (the model), model_b = `generator_1` (the baseline),
  outcome = preference - 1.
- `human-votes`: a run's `human/votes.jsonl`, people's blind votes from the dashboard's review
  view (arena.human_votes): each reviewer's latest vote per battle counts, and every reviewer
  is the judge "human".
- `preferences-csv`: a table of AlpacaEval judgments, one row per judgment: `annotator`,
  `instruction_index`, `generator_1` (baseline), `generator_2` (model), `preference` (1 baseline
  preferred to 2 model preferred, fractional for the weighted annotator, 1.5 or 0, the older
  encoding, a draw), optionally `dataset`, `len_output_1`, `len_output_2`. AlpacaEval itself
  does not publish this table; `../shared/data/alpaca-eval/preferences.csv.gz` was derived from
  its annotations in this shape.

Both AlpacaEval readers treat rows alike: one annotator is read (required when there are
several); an empty preference is a judgment without a verdict (not a battle); a row repeated
verbatim is one judgment (kept once); a model compared with itself (AlpacaEval's baseline row,
50% by definition) is skipped. Each is counted in the log's notes. Where one model is the
baseline of every battle, the log names it (`BattleLog.baseline`) and the leaderboard gains
`win_rate_vs_baseline`, AlpacaEval's figure, with the baseline's own at 50%.

Every reader returns a `BattleLog`: a pandas DataFrame with `BATTLE_COLUMNS` and notes that say
what was left out and why (nothing is dropped silently). A malformed row is a DataError naming
the file, the line (or row) and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arena.errors import DataError
from arena.records import OUTCOME_OF_WINNER, WINNERS, Battle, from_json
from arena.store import read_jsonl

FORMATS = ("auto", "battles", "arena", "alpaca-eval", "preferences-csv", "human-votes")
ANNOTATOR_FORMATS = ("alpaca-eval", "preferences-csv")
STYLE_FIELDS = ("tokens", "chars", "headers", "lists", "bold")
STYLE_COLUMNS = tuple(f"style_{side}_{f}" for side in "ab" for f in STYLE_FIELDS)
BATTLE_COLUMNS = (
    "model_a",
    "model_b",
    "winner",
    "outcome",
    "weight",
    "judge",
    "turn",
    "category",
    "question_id",
    "tstamp",
    *STYLE_COLUMNS,
)
@dataclass
class BattleLog:
    """Battles as a table (`BATTLE_COLUMNS`; style columns NaN where unknown) and notes on what
    the reader left out."""

    battles: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: The model every battle is played against, where the format says so (AlpacaEval's).
    baseline: str | None = None

    def __len__(self) -> int:
        return len(self.battles)


def read_battle_log(path: str | Path, fmt: str = "auto", *, annotator: str | None = None) -> BattleLog:
    """Read one battle log in the given format (see the module docstring)."""
    path = Path(path)
    fmt = resolve_format(path, fmt)
    if annotator is not None and fmt not in ANNOTATOR_FORMATS:
        raise DataError(f"{path}: --annotator applies to AlpacaEval judgments only (this file reads as {fmt!r})")
    if fmt == "battles":
        return read_battles_jsonl(path)
    if fmt == "arena":
        return read_arena_log(path)
    if fmt == "alpaca-eval":
        return read_alpaca_annotations(path, annotator)
    if fmt == "human-votes":
        from arena.human_votes import read_vote_battles

        return BattleLog(*read_vote_battles(path))
    return read_preferences_csv(path, annotator)


def read_run_battles(root: Path) -> BattleLog | None:
    """A run folder's battles (None where `root` is not a run folder)."""
    if not (root.is_dir() and (root / "run.json").exists()):
        return None
    if not (root / "battles.jsonl").exists():
        raise DataError(f"{root / 'battles.jsonl'}: no battles file; run the reviews stage first")
    return read_battles_jsonl(root / "battles.jsonl")


def run_juries(root: Path) -> list[str] | None:
    """The jury of a run folder (its name in a list), or None where it has none. A jury's battles
    repeat its members' verdicts, so where one exists it alone makes a run's headline figures
    (leaderboard, compare, power, diff) unless the user picks judges."""
    path = Path(root) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # the ratings stage and the loaders report a broken summary themselves
    reviews = summary.get("reviews") if isinstance(summary, dict) else None
    juries = sorted(name for name, entry in (reviews or {}).items() if isinstance(entry, dict) and entry.get("jury"))
    return juries or None


def keep_judges(battles: pd.DataFrame, judges: list[str], source: Path | str) -> pd.DataFrame:
    """The battles of `judges` (a --judge option, or a run's jury); one line naming what the
    source has where none is left."""
    kept = battles[battles["judge"].isin(judges)]
    if len(kept) == 0:
        present = ", ".join(sorted(map(str, battles["judge"].unique()))[:20])
        raise DataError(f"--judge: no battles by {', '.join(judges)} in {source}; it has: {present}")
    return kept


def read_each_annotator(path: str | Path, fmt: str = "auto") -> list[BattleLog]:
    """One log per annotator of an AlpacaEval source (each annotator is a benchmark of its own);
    any other log as the one log `read_battle_log` reads."""
    path = Path(path)
    fmt = resolve_format(path, fmt)
    if fmt == "preferences-csv":
        raw, notes = _preferences_table(path), []
    elif fmt == "alpaca-eval":
        raw, notes = _annotations_table(path)
    else:
        return [read_battle_log(path, fmt)]
    return [_preferences_log(raw, path, annotator, notes) for annotator in sorted(raw["annotator"].dropna().unique())]


def resolve_format(path: Path, fmt: str) -> str:
    """The format to read `path` in: `fmt`, or the one its content shows where `fmt` is auto."""
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if path.is_dir():
        if fmt not in ("auto", "alpaca-eval"):
            raise DataError(f"{path}: a folder; only format 'alpaca-eval' (AlpacaEval's results folder) reads folders")
        return "alpaca-eval"
    if not path.is_file():
        raise DataError(f"{path}: battle log not found")
    return detect_format(path) if fmt == "auto" else fmt


def detect_format(path: Path) -> str:
    """`preferences-csv` for CSV files, `alpaca-eval` for folders and AlpacaEval annotation
    files, `human-votes` for the dashboard's votes, `battles` when the first row has our
    `outcome` field, otherwise `arena`."""
    if path.is_dir():
        return "alpaca-eval"
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "preferences-csv"
    first = _first_row(path)
    if isinstance(first, dict) and "output_1" in first and "generator_1" in first:
        return "alpaca-eval"
    if isinstance(first, dict) and "vote_id" in first and "reviewer" in first:
        return "human-votes"
    return "battles" if isinstance(first, dict) and "outcome" in first else "arena"


def _first_row(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        head = handle.read(1 << 16).lstrip()
    if head.startswith("["):
        rows = _load_json_list(path)
        return rows[0] if rows else None
    line = head.split("\n", 1)[0]
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise DataError(f"{path}:1: not valid JSON; expected a JSON list or JSON lines of battles") from None


# --- our battles.jsonl -------------------------------------------------------------------------


def read_battles_jsonl(path: Path) -> BattleLog:
    """Our `battles.jsonl`: every line a Battle record. Read by column (arena.battle_columns), from
    a run folder's columnar copy where it is current; record by record where the file does not
    read cleanly, so a fault gets the record reader's one-line error."""
    from arena.battle_columns import in_run_folder, read_columnar, read_fast, write_columnar

    path = Path(path)
    frame = read_columnar(path)
    if frame is not None:
        return BattleLog(frame)
    frame = read_fast(path, BATTLE_COLUMNS)
    if frame is None:
        frame = read_battle_records(path).battles
    if in_run_folder(path):
        write_columnar(path, frame)  # missing or stale: rebuilt for the next reader
    return BattleLog(frame)


def read_battle_records(path: Path) -> BattleLog:
    """Our `battles.jsonl`, one checked Battle record per line (the reference reader)."""
    battles = []
    for number, obj in read_jsonl(path):
        where = f"{path}:{number}"
        battle = from_json(Battle, obj, where)
        _check_battle(battle, where)
        battles.append(battle)
    return BattleLog(battles_frame(battles))


def _check_battle(b: Battle, where: str) -> None:
    if b.model_a == b.model_b:
        raise DataError(f"{where}: model_b: same model as model_a ({b.model_a!r}); a model cannot battle itself")
    if not (0.0 <= b.outcome <= 1.0) or math.isnan(b.outcome):
        raise DataError(f"{where}: outcome: {b.outcome!r} is not a score in [0, 1]")
    if not (b.weight > 0) or math.isinf(b.weight):
        raise DataError(f"{where}: weight: {b.weight!r} is not a positive number")


def battles_frame(battles: list[Battle]) -> pd.DataFrame:
    """A battle table from Battle records."""
    columns: dict[str, list[Any]] = {c: [] for c in BATTLE_COLUMNS}
    for b in battles:
        columns["model_a"].append(b.model_a)
        columns["model_b"].append(b.model_b)
        columns["winner"].append(b.winner)
        columns["outcome"].append(float(b.outcome))
        columns["weight"].append(float(b.weight))
        columns["judge"].append(b.judge)
        columns["turn"].append(int(b.turn))
        columns["category"].append(b.category)
        columns["question_id"].append(str(b.question_id))
        columns["tstamp"].append(math.nan)
        for side, style in (("a", b.style_a), ("b", b.style_b)):
            for f in STYLE_FIELDS:
                columns[f"style_{side}_{f}"].append(math.nan if style is None else float(getattr(style, f)))
    return typed_frame(pd.DataFrame(columns))


def typed_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype(
        {"outcome": "float64", "weight": "float64", "turn": "int64", "tstamp": "float64", **{c: "float64" for c in STYLE_COLUMNS}}
    )
    for c in ("model_a", "model_b", "winner", "judge", "category", "question_id"):
        frame[c] = frame[c].astype(object)
    return frame


# --- Chatbot Arena's published format ----------------------------------------------------------


def read_arena_log(path: Path) -> BattleLog:
    """Chatbot Arena's battle log: a JSON list or JSON lines of rows (see the module docstring).
    Read by column (arena.arena_columns) where every column is plainly valid, else row by row,
    which names the first fault."""
    from arena.arena_columns import arena_frame, list_columns, read_jsonl_columns

    with open(path, encoding="utf-8") as handle:
        is_list = handle.read(1 << 12).lstrip().startswith("[")
    data = _load_json_list(path) if is_list else None
    columns = list_columns(data) if data is not None else read_jsonl_columns(path)
    if columns is not None:
        n = len(data) if data is not None else _rows_of(columns)
        frame = arena_frame(columns, n, BATTLE_COLUMNS, STYLE_COLUMNS)
        if frame is not None:
            return BattleLog(frame)
    return read_arena_rows(path, data)


def _rows_of(columns: dict[str, Any]) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def read_arena_rows(path: Path, data: list[Any] | None = None) -> BattleLog:
    """Chatbot Arena's battle log read row by row (the reference reader); `data` the JSON list
    already loaded, where the file is one."""
    if data is None:
        with open(path, encoding="utf-8") as handle:
            if handle.read(1 << 12).lstrip().startswith("["):
                data = _load_json_list(path)
    if data is not None:
        rows = ((f"{path}: row {i}", row) for i, row in enumerate(data, start=1))
    else:
        rows = ((f"{path}:{number}", row) for number, row in read_jsonl(path))
    columns: dict[str, list[Any]] = {c: [] for c in BATTLE_COLUMNS}
    anonymous: list[bool] = []
    for where, row in rows:
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object per battle, got {type(row).__name__}")
        _arena_row(row, where, len(columns["model_a"]) + 1, columns)
        anonymous.append(bool(row.get("anony", True)))
    frame = typed_frame(pd.DataFrame(columns))
    frame["anony"] = np.array(anonymous, dtype=bool)
    return BattleLog(frame)


def _load_json_list(path: Path) -> list[Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of battles, got {type(data).__name__}")
    return data


def _arena_row(row: dict[str, Any], where: str, index: int, out: dict[str, list[Any]]) -> None:
    model_a = _text(row, "model_a", where)
    model_b = _text(row, "model_b", where)
    if model_a == model_b:
        raise DataError(f"{where}: model_b: same model as model_a ({model_a!r}); a model cannot battle itself")
    winner = row.get("winner")
    if winner not in WINNERS:
        raise DataError(f"{where}: winner: {winner!r} is not one of {', '.join(WINNERS)}")
    turn = row.get("turn", 1)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        raise DataError(f"{where}: turn: {turn!r} is not a turn number (an integer >= 1)")
    tstamp = row.get("tstamp")
    if tstamp is not None and (isinstance(tstamp, bool) or not isinstance(tstamp, (int, float))):
        raise DataError(f"{where}: tstamp: {tstamp!r} is not a number (seconds since the epoch)")
    judge = row.get("judge", "")
    if not isinstance(judge, str):
        raise DataError(f"{where}: judge: {judge!r} is not a string")
    category = row.get("category", "")
    if not isinstance(category, str):
        raise DataError(f"{where}: category: {category!r} is not a string")
    out["model_a"].append(model_a)
    out["model_b"].append(model_b)
    out["winner"].append(winner)
    out["outcome"].append(OUTCOME_OF_WINNER[winner])
    out["weight"].append(1.0)
    out["judge"].append(judge)
    out["turn"].append(turn)
    out["category"].append(category)
    out["question_id"].append(str(row.get("question_id", index)))
    out["tstamp"].append(math.nan if tstamp is None else float(tstamp))
    style = _arena_style(row.get("conv_metadata"), where)
    for key in STYLE_COLUMNS:
        out[key].append(style.get(key, math.nan))


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value:
        what = "missing" if value is None else f"{value!r} is not a model name"
        raise DataError(f"{where}: {key}: {what}")
    return value


def _arena_style(meta: Any, where: str) -> dict[str, float]:
    """Style from Chatbot Arena's `conv_metadata` (answer tokens, markdown element counts by
    kind), where a row has it; {} otherwise."""
    if not isinstance(meta, dict):
        return {}
    style: dict[str, float] = {}
    try:
        for side in "ab":
            tokens = meta.get(f"sum_assistant_{side}_tokens")
            if tokens is None:
                return {}
            style[f"style_{side}_tokens"] = float(tokens)
            style[f"style_{side}_chars"] = 0.0
            for name in ("headers", "lists", "bold"):
                key = {"headers": "header_count", "lists": "list_count", "bold": "bold_count"}[name]
                counts = meta.get(f"{key}_{side}", {})
                # A kind of markdown without a count (a null in the dict) adds nothing.
                total = sum(v for v in counts.values() if v is not None) if isinstance(counts, dict) else counts
                style[f"style_{side}_{name}"] = float(total)
    except (TypeError, ValueError):
        raise DataError(f"{where}: conv_metadata: token or markdown counts are not numbers") from None
    return style


# --- AlpacaEval's judgments: its annotations, or a preferences table ----------------------------

_ALPACA_REQUIRED = ("annotator", "instruction_index", "generator_1", "generator_2", "preference")


def read_preferences_csv(path: Path, annotator: str | None) -> BattleLog:
    """A preferences table (see the module docstring) of one annotator (required when the file
    holds several)."""
    return _preferences_log(_preferences_table(path), path, annotator, [])


def _preferences_table(path: Path) -> pd.DataFrame:
    """The rows of a preferences table, each with its `where`, preferences checked and numeric."""
    try:
        raw = pd.read_csv(path, dtype={"annotator": str, "generator_1": str, "generator_2": str, "dataset": str})
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in _ALPACA_REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected a preferences table ({', '.join(_ALPACA_REQUIRED)})")
    raw["where"] = [f"line {n}" for n in range(2, len(raw) + 2)]  # the header is line 1
    pref = pd.to_numeric(raw["preference"], errors="coerce")
    unreadable = pref.isna() & raw["preference"].notna()
    out_of_range = pref.notna() & (pref != 0) & ((pref < 1) | (pref > 2))
    bad = raw[unreadable | out_of_range]
    if len(bad):
        value = bad["preference"].iloc[0]
        shown = repr(value) if isinstance(value, str) else f"{float(value):g}"
        raise DataError(
            f"{path}: {bad['where'].iloc[0]}: preference: {shown} is not 1 to 2 "
            "(1 baseline preferred, 2 model preferred, 1.5 or 0 a draw)"
        )
    return raw.assign(preference=pref)


def read_alpaca_annotations(path: Path, annotator: str | None) -> BattleLog:
    """AlpacaEval's annotations.json files (one file, or a folder such as its `results/`), read
    as the preferences table they make (arena.imports.alpaca_eval.preference_table)."""
    raw, notes = _annotations_table(path)
    return _preferences_log(raw, path, annotator, notes)


def _annotations_table(path: Path) -> tuple[pd.DataFrame, list[str]]:
    from arena.imports.alpaca_eval import preference_table

    rows, notes = preference_table(path)
    raw = pd.DataFrame(rows, columns=[*_ALPACA_REQUIRED, "dataset", "len_output_1", "len_output_2", "where"])
    raw["preference"] = raw["preference"].astype("float64")
    # Messages name PATH first; each row's place is the rest (the file under a folder, the row).
    prefix = f"{path}/" if path.is_dir() else f"{path}: "
    raw["where"] = [w.removeprefix(prefix) for w in raw["where"]]
    return raw, notes


def _places(wheres: list[str]) -> str:
    """"lines 2, 3" for table lines, else the places joined."""
    if all(w.startswith("line ") for w in wheres):
        return "lines " + ", ".join(w[5:] for w in wheres)
    return "; ".join(wheres)


def _preferences_log(raw: pd.DataFrame, path: Path, annotator: str | None, notes: list[str]) -> BattleLog:
    """Battles of one annotator from a preferences table whose `preference` is numeric (NaN: no
    verdict) and whose `where` says where each row came from."""
    notes = list(notes)
    annotators = sorted(raw["annotator"].dropna().unique())
    if annotator is None:
        if len(annotators) != 1:
            raise DataError(f"{path}: holds {len(annotators)} annotators; choose one with --annotator ({', '.join(annotators)})")
        annotator = annotators[0]
    elif annotator not in annotators:
        raise DataError(f"{path}: annotator {annotator!r} not found; the file has {', '.join(annotators)}")
    rows = raw[raw["annotator"] == annotator]
    for col in ("generator_1", "generator_2"):
        bad = rows[rows[col].isna() | (rows[col] == "")]
        if len(bad):
            raise DataError(f"{path}: {bad['where'].iloc[0]}: {col}: missing model name")
    same = rows["generator_1"] == rows["generator_2"]
    if same.any():
        counts = rows[same].groupby("generator_1").size()
        notes.append(
            f"{path}: {int(same.sum())} judgments of annotator {annotator} compare a model with itself "
            f"({', '.join(f'{m}: {n}' for m, n in counts.items())}): AlpacaEval's reference rows that anchor "
            "its scale (the baseline at 50%), skipped: a model cannot battle itself"
        )
        rows = rows[~same]
    pref = rows["preference"]
    no_verdict = pref.isna()
    if no_verdict.any():
        notes.append(f"{path}: {int(no_verdict.sum())} judgments of annotator {annotator} have no verdict (empty preference) and are not battles")
    rows = rows[~no_verdict]
    key = ["instruction_index", "generator_1", "generator_2"]
    repeated = rows.duplicated(key, keep="first")
    if repeated.any():
        conflicting = rows[rows.duplicated(key, keep=False)].groupby(key)["preference"].nunique()
        if (conflicting > 1).any():
            clash = conflicting[conflicting > 1].index[0]
            wheres = rows.set_index(key).loc[[clash], "where"].tolist()
            raise DataError(
                f"{path}: {_places(wheres)}: preference: annotator {annotator} judged "
                f"instruction {clash[0]} of {clash[2]} against {clash[1]} more than once, differently"
            )
        notes.append(
            f"{path}: {int(repeated.sum())} judgments of annotator {annotator} repeat an earlier row verbatim "
            "(same instruction, models and verdict) and are counted once"
        )
        rows = rows[~repeated]
    preference = rows["preference"].to_numpy(dtype=np.float64)
    outcome = np.where(preference == 0, 0.5, preference - 1.0)
    winner = np.where(outcome > 0.5, "model_a", np.where(outcome < 0.5, "model_b", "tie"))
    n = len(rows)
    frame = pd.DataFrame(
        {
            "model_a": rows["generator_2"].to_numpy(dtype=object),
            "model_b": rows["generator_1"].to_numpy(dtype=object),
            "winner": winner.astype(object),
            "outcome": outcome,
            "weight": np.ones(n),
            "judge": np.full(n, annotator, dtype=object),
            "turn": np.ones(n, dtype=np.int64),
            "category": (rows["dataset"].fillna("") if "dataset" in rows else pd.Series([""] * n)).to_numpy(dtype=object),
            "question_id": rows["instruction_index"].astype(str).to_numpy(dtype=object),
            "tstamp": np.full(n, np.nan),
        }
    )
    for col in STYLE_COLUMNS:
        frame[col] = np.nan
    for side, source in (("a", "len_output_2"), ("b", "len_output_1")):
        if source in rows:
            frame[f"style_{side}_chars"] = pd.to_numeric(rows[source], errors="coerce").to_numpy(dtype=np.float64)
            frame[f"style_{side}_tokens"] = 0.0
            for name in ("headers", "lists", "bold"):
                frame[f"style_{side}_{name}"] = 0.0
    baselines = set(raw.loc[raw["annotator"] == annotator, "generator_1"].dropna())
    return BattleLog(typed_frame(frame[list(BATTLE_COLUMNS)]), notes, baseline=next(iter(baselines)) if len(baselines) == 1 else None)


def concat_logs(logs: list[BattleLog]) -> BattleLog:
    """Several logs as one (the rows in the order given)."""
    frames = [log.battles for log in logs]
    battles = pd.concat(frames, ignore_index=True) if frames else typed_frame(pd.DataFrame({c: [] for c in BATTLE_COLUMNS}))
    baselines = {log.baseline for log in logs}
    baseline = baselines.pop() if len(baselines) == 1 else None
    return BattleLog(battles, [note for log in logs for note in log.notes], baseline=baseline)
