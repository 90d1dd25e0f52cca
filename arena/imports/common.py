"""What every importer produces, and the one place that writes it into a run folder.

An importer reads another tool's files into an `ImportedRun` (question rows, reference answers,
our Answer and Review records, optionally ready-made battles) and `write_imported_run` lays that
out as a run folder the rest of arena reads like any other:

    <run>/question.jsonl          the questions, in FastChat's question format
    <run>/reference_answer.jsonl  reference answers where the source has them (FastChat's answer format)
    <run>/answers/<model>.jsonl   arena.records.Answer rows
    <run>/reviews/<judge>.jsonl   arena.records.Review rows (one per judge call)
    <run>/battles.jsonl           arena.records.Battle rows
    <run>/run.json                the manifest: where the import came from, and per judge its mode
    <run>/summary.json            section "import" (counts and notes) and section "bias"

`question.jsonl` and `reference_answer.jsonl` use the names `arena.questions` looks for, so the run
folder is itself a question set (`questions: <run>` in a config).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena import __version__
from arena.battle_columns import write_columnar
from arena.battle_log import battles_frame
from arena.errors import DataError
from arena.judging.battles import battles_from_reviews
from arena.records import Answer, Battle, Question, QuestionId, Review
from arena.rundir import RunDir
from arena.stages.bias import write_bias
from arena.store import read_jsonl, write_atomic, write_json_atomic, write_records_atomic

QUESTION_FILE = "question.jsonl"
REFERENCE_FILE = "reference_answer.jsonl"


@dataclass
class JudgeInfo:
    """What a run needs to know about an imported judge beyond its reviews."""

    mode: str
    model: str
    baseline: str | None = None
    strong_verdict_weight: float = 1.0
    # False where the source does not record which answer the judge saw first (AlpacaEval
    # randomises the order and keeps only the de-randomised preference).
    position_known: bool = True


@dataclass
class ImportedRun:
    tool: str
    source: Path
    questions: list[dict[str, Any]]
    references: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    reviews: dict[str, list[Review]] = field(default_factory=dict)
    judges: dict[str, JudgeInfo] = field(default_factory=dict)
    # Battles the source defines itself (e.g. AlpacaEval's fractional preferences), by judge;
    # judges not in here get battles derived from their reviews as the pipeline does.
    battles: dict[str, list[Battle]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def check_name(name: Any, what: str, where: str) -> str:
    """A model or judge name that can name a file in the run folder."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{where}: {what}: missing or not a string ({name!r})")
    if name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise DataError(f"{where}: {what}: {name!r} cannot name a file (no '/', '\\' or leading '.')")
    return name


def model_name(name: Any, what: str, where: str) -> str:
    """A model named in a judgment (it need not name a file: Chatbot Arena-style names with '/'
    are fine)."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{where}: {what}: missing or not a model name ({name!r})")
    return name


def question_id_of(value: Any, where: str, key: str = "question_id") -> QuestionId:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{where}: {key}: expected an integer or a string, got {value!r}")
    return value


def text_answer_id(model: str, question_id: QuestionId, turns: list[str]) -> str:
    """A stable id for an answer whose source gives none (same text, same id)."""
    digest = hashlib.sha256(json.dumps([model, str(question_id), turns], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:22]


def questions_by_id(rows: list[dict[str, Any]]) -> dict[str, Question]:
    """Question records (id, category, turns) from question rows, for building battles."""
    out: dict[str, Question] = {}
    for row in rows:
        turns = row.get("turns") or []
        out[str(row["question_id"])] = Question(
            question_id=row["question_id"], category=str(row.get("category", "")), turns=list(turns)
        )
    return out


def read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) for each row of a JSON-lines file, or of a JSON list."""
    with open(path, encoding="utf-8") as handle:
        head = handle.read(1 << 12).lstrip()
    if head.startswith("["):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
        rows = []
        for i, row in enumerate(data, start=1):
            if not isinstance(row, dict):
                raise DataError(f"{path}: row {i}: expected a JSON object, got {type(row).__name__}")
            rows.append((f"{path}: row {i}", row))
        return rows
    return [(f"{path}:{number}", row) for number, row in read_jsonl(path)]


def first_row(path: Path) -> tuple[str, dict[str, Any]] | None:
    """(where, row) of the first row of a JSON-lines file or JSON list, reading no further than
    needed for JSON lines; None for an empty file."""
    with open(path, encoding="utf-8") as handle:
        head = handle.read(1 << 12).lstrip()
        if not head.startswith("["):
            handle.seek(0)
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        raise DataError(f"{path}:{number}: not valid JSON") from None
                    if not isinstance(row, dict):
                        raise DataError(f"{path}:{number}: expected a JSON object per line, got {type(row).__name__}")
                    return f"{path}:{number}", row
            return None
    rows = read_rows(path)
    return rows[0] if rows else None


def build_battles(imported: ImportedRun) -> list[Battle]:
    """Every judge's battles: the source's own where it defines them, else derived from the
    reviews exactly as the reviews stage derives them."""
    by_id = questions_by_id(imported.questions)
    answers = {model: {str(a.question_id): a for a in rows} for model, rows in imported.answers.items()}
    battles: list[Battle] = []
    for judge, reviews in imported.reviews.items():
        if judge in imported.battles:
            battles += imported.battles[judge]
            continue
        info = imported.judges[judge]
        battles += battles_from_reviews(reviews, by_id, answers, strong_weight=info.strong_verdict_weight)
    return battles


def write_imported_run(imported: ImportedRun, run_dir: Path) -> dict[str, Any]:
    """Write the run folder (refusing a folder that already holds files) and return the
    import summary (also stored as summary.json's "import" section)."""
    target = Path(run_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataError(f"{target}: folder is not empty; import into a new folder (nothing was written)")
    # Everything is written into a hidden sibling folder first and renamed into place at the end,
    # so a failure half-way leaves no half-written run behind.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.importing-", dir=target.parent))
    try:
        summary = _write_run(imported, RunDir(staging), target.name)
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _write_run(imported: ImportedRun, run: RunDir, name: str) -> dict[str, Any]:
    if imported.questions:
        write_atomic(run.root / QUESTION_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in imported.questions))
    if imported.references:
        write_atomic(run.root / REFERENCE_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in imported.references))
    for model, answers in imported.answers.items():
        write_records_atomic(run.answers(model), answers)
    for judge, reviews in imported.reviews.items():
        write_records_atomic(run.reviews(judge), reviews)
    battles = build_battles(imported)
    write_records_atomic(run.battles, battles)
    # The columnar copy, so the run's ratings and dashboard read battles by column (a stale or
    # missing one falls back to the JSONL and is rebuilt).
    write_columnar(run.battles, battles_frame(battles))
    write_json_atomic(
        run.manifest,
        {
            "name": name,
            "dry_run": False,
            "imported_from": {"tool": imported.tool, "path": str(imported.source)},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "arena_version": __version__,
            "judges": {name: vars(info) for name, info in imported.judges.items()},
        },
    )
    summary = {
        "tool": imported.tool,
        "source": str(imported.source),
        "questions": len(imported.questions),
        "references": len(imported.references),
        "answers": {model: len(rows) for model, rows in imported.answers.items()},
        "reviews": {
            judge: {"reviews": len(rows), "errors": sum(r.status == "error" for r in rows)}
            for judge, rows in imported.reviews.items()
        },
        "battles": len(battles),
        "notes": list(imported.notes),
    }
    run.update_summary("import", summary)
    write_bias(
        run, imported.reviews, battles,
        position_known={name: info.position_known for name, info in imported.judges.items()},
    )
    return summary
