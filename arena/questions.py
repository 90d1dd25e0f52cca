"""Question sets: read from the registry by name or from a user's file.

Accepted row formats (detected per row): FastChat's (`question_id`, `category`, `turns`, optional
`reference`), arena-hard v0.1's (`uid`, `category`, `cluster`, `prompt`) and arena-hard v2's
(`uid`, `category`, `prompt` or `turns: [{content}]`). Reference answers come from the row's
`reference` or from a file in FastChat's model-answer format beside the questions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.config import QuestionsConfig
from arena.errors import ConfigError, DataError
from arena.records import Question
from arena.registry import available, registry_dir
from arena.store import read_jsonl

REFERENCE_FILES = ("reference_answer.jsonl", "reference.jsonl")


def resolve_question_file(source: str, base_dir: Path | None, where: str) -> Path:
    """A registry name (registry/questions/<name>/question.jsonl) or a path to a JSONL file."""
    registry_file = registry_dir() / "questions" / source / "question.jsonl"
    if "/" not in source and not source.endswith(".jsonl") and registry_file.is_file():
        return registry_file
    candidates = [Path(source)]
    if base_dir is not None and not Path(source).is_absolute():
        candidates.append(base_dir / source)
    for path in candidates:
        if path.is_dir() and (path / "question.jsonl").is_file():
            return path / "question.jsonl"
        if path.is_file():
            return path
    names = ", ".join(available("questions"))
    raise ConfigError(
        f"{where}: questions: {source!r} is neither a registry question set ({names}) nor an existing file"
    )


def load_questions(config: QuestionsConfig, base_dir: Path | None = None, where: str = "config") -> list[Question]:
    """Load, filter and check a question set; errors name the file and line."""
    path = resolve_question_file(config.source, base_dir, where)
    questions: list[Question] = []
    seen: set[str] = set()
    for number, row in read_jsonl(path):
        question = _question_from_row(row, f"{path}:{number}")
        key = str(question.question_id)
        if key in seen:
            raise DataError(f"{path}:{number}: question_id: duplicate id {question.question_id!r}")
        seen.add(key)
        questions.append(question)
    if not questions:
        raise DataError(f"{path}: no questions in the file")
    if config.reference is not None:
        ref_path = _resolve_path(config.reference, base_dir)
        if ref_path is None:
            raise ConfigError(f"{where}: questions.reference: file {config.reference!r} not found")
        _attach_references(questions, [ref_path])
    else:
        _attach_references(questions, [path.parent / name for name in REFERENCE_FILES])
    if config.categories is not None:
        known = {q.category for q in questions}
        unknown = [c for c in config.categories if c not in known]
        if unknown:
            raise ConfigError(
                f"{where}: questions.categories: {', '.join(unknown)} not in {path.name}; "
                f"categories there: {', '.join(sorted(known))}"
            )
        questions = [q for q in questions if q.category in config.categories]
    if config.limit is not None:
        questions = questions[: config.limit]
    return questions


def _question_from_row(row: dict[str, Any], where: str) -> Question:
    qid = row.get("question_id", row.get("uid"))
    if qid is None:
        raise DataError(f"{where}: question_id: missing (expected 'question_id' or arena-hard's 'uid')")
    if not isinstance(qid, (int, str)) or isinstance(qid, bool):
        raise DataError(f"{where}: question_id: expected an integer or a string, got {qid!r}")
    turns = row.get("turns")
    if turns is None and "prompt" in row:
        turns = [row["prompt"]]
    if isinstance(turns, list):
        turns = [t.get("content") if isinstance(t, dict) else t for t in turns]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t for t in turns):
        raise DataError(f"{where}: turns: expected a non-empty list of non-empty strings (or 'prompt')")
    category = row.get("category", "general")
    if not isinstance(category, str):
        raise DataError(f"{where}: category: expected a string, got {category!r}")
    reference = row.get("reference")
    if reference is not None:
        if isinstance(reference, str):
            reference = [reference]
        if not isinstance(reference, list) or not all(isinstance(r, str) for r in reference):
            raise DataError(f"{where}: reference: expected a list of strings, one per turn")
    meta = {k: v for k, v in row.items() if k not in ("question_id", "uid", "turns", "prompt", "category", "reference")}
    return Question(question_id=qid, category=category, turns=turns, reference=reference, meta=meta)


def _resolve_path(source: str, base_dir: Path | None) -> Path | None:
    candidates = [Path(source)]
    if base_dir is not None and not Path(source).is_absolute():
        candidates.append(base_dir / source)
    return next((p for p in candidates if p.is_file()), None)


def _attach_references(questions: list[Question], paths: list[Path]) -> None:
    """Reference answers in FastChat's answer format take precedence over inline ones; the first
    existing file of `paths` is used."""
    for path in paths:
        if not path.is_file():
            continue
        by_id = {str(q.question_id): q for q in questions}
        for number, row in read_jsonl(path):
            question = by_id.get(str(row.get("question_id")))
            if question is None:
                continue
            try:
                turns = row["choices"][0]["turns"]
            except (KeyError, IndexError, TypeError):
                raise DataError(f"{path}:{number}: choices[0].turns: expected FastChat's answer format") from None
            if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
                raise DataError(f"{path}:{number}: choices[0].turns: expected a list of strings")
            question.reference = turns
        return
