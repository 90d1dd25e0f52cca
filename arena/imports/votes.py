"""Pairwise verdicts ("votes") from any source, for `arena agreement`.

`read_votes(path)` returns a vote table (arena.agreement.VOTE_COLUMNS: judge, question_id, turn,
model_a, model_b, winner) and notes, from (detected by the file or folder):

- our run folder (its battles.jsonl, and the people's votes of its human/votes.jsonl where the
  dashboard's review view has stored some), a battles.jsonl, or a human/votes.jsonl;
- MT-Bench's human judgments (`question_id`, `model_a`, `model_b`, `winner`, `judge`, `turn`; a
  JSON list or JSON lines), and Chatbot Arena's battle logs, which share those fields;
- FastChat judgment files (`*_pair.jsonl`, `*_single.jsonl`) or a FastChat bench folder;
- an arena-hard bench folder (its model_judgment/);
- AlpacaEval's `preferences.csv(.gz)` (one judge per `annotator`; `instruction_index` is the
  question) and its annotation files (`annotations.json`, or a folder of them).

A verdict judged in both orders counts as the MT-Bench paper counts it: the side preferred in both
orders, a tie when the orders disagree (FastChat's "inconsistent"); one order, its verdict.
Single grades become votes between every two models graded on the same question and turn (the
higher grade wins). A verdict with a fractional score (AlpacaEval's weighted preferences) is the
side it favours, a tie at exactly one half.

MT-Bench's human-judgment file names its voters `expert_<n>` and `author_<n>`, and its GPT-4
rows `["gpt-4", "pair-v2"]`. With `humans="pooled"` (the paper's treatment) every expert is the
judge "human" and every author "author", so "human" vs "human" is the agreement of experts with
each other; with "each", every voter keeps its own name. A list-valued judge [model, prompt]
becomes "<model>_pair" (or "_single"), as FastChat names its judgment files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from arena.agreement import VOTE_COLUMNS
from arena.battle_log import read_preferences_csv
from arena.errors import DataError
from arena.human_votes import (
    HUMAN_MODES,
    POOLED,
    latest_votes,
    read_human_votes,
    read_vote_table,
    replaced_notes,
    vote_table,
    votes_path,
)
from arena.imports.alpaca_eval import read_alpaca_eval
from arena.imports.arena_hard import read_arena_hard
from arena.imports.common import ImportedRun, build_battles, first_row, read_rows
from arena.imports.fastchat import (
    judgment_kind,
    read_fastchat,
    read_pair_judgments,
    read_single_judgments,
)
from arena.judging.battles import battles_from_reviews
from arena.records import WINNERS, Battle
from arena.store import read_records


def read_votes(path: str | Path, *, humans: str = "pooled") -> tuple[pd.DataFrame, list[str]]:
    """The votes of one source (see the module docstring) and notes on what was left out."""
    path = Path(path)
    if humans not in HUMAN_MODES:
        raise DataError(f"--humans: {humans!r}; expected one of {', '.join(HUMAN_MODES)}")
    if path.is_dir():
        return _votes_of_folder(path, humans)
    if not path.is_file():
        raise DataError(f"{path}: not found")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return votes_from_preferences(path)
    first = first_row(path)
    if first is None:
        raise DataError(f"{path}: empty file; no votes")
    _, row = first
    if "vote_id" in row and "reviewer" in row:
        return read_vote_table(path, humans)
    if "outcome" in row:
        return votes_from_battles(_battles_of(path)), []
    if "model_1" in row or ("model" in row and "score" in row):
        return _votes_of_fastchat_file(path)
    if "instruction" in row and "preference" in row:
        return _votes_of_import(read_alpaca_eval(path))
    if "winner" in row and "model_a" in row:
        return votes_from_human_judgments(path, humans=humans)
    raise DataError(
        f"{path}: cannot tell the format from its first row (keys {', '.join(list(row)[:8])}); expected battles, "
        "MT-Bench human judgments (model_a, model_b, winner, judge, turn), FastChat judgments, or AlpacaEval annotations"
    )


def _votes_of_folder(path: Path, humans: str) -> tuple[pd.DataFrame, list[str]]:
    if (path / "battles.jsonl").is_file():
        votes, notes = votes_from_battles(_battles_of(path / "battles.jsonl")), []
        people = votes_path(path)
        latest, replaced = latest_votes(read_human_votes(people)) if people.is_file() else ([], 0)
        if latest:  # none yet (or only a line torn by a killed dashboard): the judges alone
            votes = pd.concat([votes, vote_table(latest, humans)], ignore_index=True)
            notes = [f"{people}: {len(latest)} people's vote(s), " + (f"as judge {POOLED!r}" if humans == "pooled" else "one judge per reviewer"),
                     *replaced_notes(people, replaced)]
        return votes, notes
    judgments = path / "model_judgment"
    if judgments.is_dir():
        if any(p.is_dir() for p in judgments.iterdir()):
            return _votes_of_import(read_arena_hard(path))
        return _votes_of_import(read_fastchat(path))
    if any(path.rglob("*.json")):
        return _votes_of_import(read_alpaca_eval(path))
    raise DataError(
        f"{path}: no battles.jsonl (a run folder), model_judgment/ (FastChat or arena-hard) or annotations .json (AlpacaEval)"
    )


def _battles_of(path: Path) -> list[Battle]:
    return read_records(path, Battle)


def _votes_of_fastchat_file(path: Path) -> tuple[pd.DataFrame, list[str]]:
    judge = path.stem
    if judgment_kind(path) == "pair":
        reviews, _, notes = read_pair_judgments(path, judge)
    else:
        reviews, _, notes = read_single_judgments(path, judge)
    return votes_from_battles(battles_from_reviews(reviews, {}, {})), notes


def _votes_of_import(imported: ImportedRun) -> tuple[pd.DataFrame, list[str]]:
    return votes_from_battles(build_battles(imported)), imported.notes


def battle_vote(battle: Battle) -> str:
    """A battle's verdict as the MT-Bench paper counts it (see the module docstring)."""
    return verdict_vote(battle.games, battle.outcome)


def verdict_vote(games: list[str] | None, outcome: float) -> str:
    """model_a, model_b or tie from a battle's games (verdict per order) and outcome."""
    games = ["tie" if g.startswith("tie") else g for g in games or []]
    if len(games) == 2:
        return games[0] if games[0] == games[1] else "tie"
    if len(games) == 1 and outcome in (0.0, 0.5, 1.0):
        return games[0]
    # Single grades (no games), and fractional outcomes: the side the outcome favours.
    return "model_a" if outcome > 0.5 else "model_b" if outcome < 0.5 else "tie"


def votes_from_battles(battles: Iterable[Battle]) -> pd.DataFrame:
    rows = [(b.judge, str(b.question_id), int(b.turn), b.model_a, b.model_b, battle_vote(b)) for b in battles]
    return pd.DataFrame(rows, columns=list(VOTE_COLUMNS))


def votes_from_preferences(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """AlpacaEval's preferences.csv(.gz): one vote per judgment, read per annotator by the same
    reader `arena rate` uses (so both treat empty, repeated and conflicting rows alike)."""
    try:
        annotators = sorted(pd.read_csv(path, usecols=["annotator"], dtype=str)["annotator"].dropna().unique())
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not AlpacaEval's preferences ({exc})") from None
    frames, notes = [], []
    for annotator in annotators:
        log = read_preferences_csv(path, annotator)
        frames.append(log.battles[list(VOTE_COLUMNS)])
        notes += log.notes
    votes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(VOTE_COLUMNS))
    votes["question_id"] = votes["question_id"].astype(str)
    return votes, notes


def human_judge_name(judge: Any, humans: str, where: str) -> str:
    """The judge name of one MT-Bench human-judgment row (see the module docstring)."""
    if isinstance(judge, (list, tuple)) and len(judge) >= 2 and all(isinstance(x, str) for x in judge[:2]):
        return f"{judge[0]}_{'single' if judge[1].startswith('single') else 'pair'}"
    if not isinstance(judge, str) or not judge:
        raise DataError(f"{where}: judge: {judge!r} is not a voter id or [model, prompt]")
    if humans == "pooled":
        if judge.startswith("expert"):
            return "human"
        if judge.startswith("author"):
            return "author"
    return judge


def votes_from_human_judgments(path: Path, *, humans: str = "pooled") -> tuple[pd.DataFrame, list[str]]:
    """MT-Bench's human judgments (also Chatbot Arena's battle logs): a JSON list or JSON lines of
    rows with question_id, model_a, model_b, winner, judge and turn."""
    rows = []
    for where, row in read_rows(path):
        for key in ("model_a", "model_b"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise DataError(f"{where}: {key}: missing or not a model name")
        if row["model_a"] == row["model_b"]:
            raise DataError(f"{where}: model_b: same model as model_a ({row['model_a']!r})")
        winner = row.get("winner")
        if winner not in WINNERS:
            raise DataError(f"{where}: winner: {winner!r} is not one of {', '.join(WINNERS)}")
        qid = row.get("question_id")
        if qid is None or isinstance(qid, bool) or not isinstance(qid, (int, str)):
            raise DataError(f"{where}: question_id: expected an integer or a string, got {qid!r}")
        turn = row.get("turn", 1)
        if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
            raise DataError(f"{where}: turn: {turn!r} is not a turn number (an integer >= 1)")
        judge = human_judge_name(row.get("judge"), humans, where)
        rows.append((judge, str(qid), turn, row["model_a"], row["model_b"], winner))
    if not rows:
        raise DataError(f"{path}: no judgments in the file")
    return pd.DataFrame(rows, columns=list(VOTE_COLUMNS)), []

