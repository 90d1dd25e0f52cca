"""arena-hard-auto's files in: questions, model answers and judgments.

An arena-hard bench folder (e.g. `data/arena-hard-v0.1/`) holds:

- `question.jsonl`: `uid`, `category`, `cluster` (v0.1) or `subcategory`, and `prompt` (older
  releases: `question_id`, `turns: [{content}]`);
- `model_answer/<model>.jsonl`: `uid`, `ans_id`, `model`, `messages` (the user turn, then the
  assistant's with `content: {answer}`), `tstamp`, optional `metadata.token_len`; older
  releases: FastChat's fields with `choices[0].turns: [{content, token_len}]`;
- `model_judgment/<judge>/<model>.jsonl`: per question `uid` (older: `question_id`), `model`,
  `baseline` (older releases name it only in their config: pass `--baseline`), `judge` and
  `games`: game 1 shows the baseline's answer as A and the model's as B, game 2 the reverse;
  each game has `score`, a five-level verdict such as "A>>B" (or none), and the judge's text
  (`judgment`, a string or `{answer}`).

Each game becomes one Review (model_a = the model, model_b = the baseline; `first` is whoever
was shown as A), so battles, ratings and the bias report treat them like our own five-level
judge calls. arena-hard counts a strong verdict ("A>>B") as three wins; `strong_weight` (default
3) does the same through the battle's weight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.imports.common import (
    QUESTION_FILE,
    ImportedRun,
    JudgeInfo,
    check_name,
    model_name,
    question_id_of,
    read_rows,
)
from arena.imports.fastchat import read_question_rows
from arena.judging.templates import prompt_hash
from arena.judging.verdicts import parse_verdict
from arena.records import Answer, Choice, Review

# arena-hard-auto's show_result counts a strong verdict this many times by default.
STRONG_WEIGHT = 3.0
TEMPLATE = "arena-hard"


def read_arena_hard(path: Path, *, baseline: str | None = None, strong_weight: float = STRONG_WEIGHT) -> ImportedRun:
    """An arena-hard bench folder (see the module docstring) as an ImportedRun."""
    path = Path(path)
    if not (path / QUESTION_FILE).is_file():
        raise DataError(f"{path}: no {QUESTION_FILE}; expected an arena-hard bench folder (question.jsonl, model_answer/, model_judgment/)")
    if strong_weight < 1:
        raise DataError(f"--strong-weight: {strong_weight} must be >= 1")
    imported = ImportedRun(tool="arena-hard", source=path, questions=read_question_rows(path / QUESTION_FILE))
    for file in sorted((path / "model_answer").glob("*.jsonl")):
        model = check_name(file.stem, "model (the answer file's name)", str(file))
        imported.answers[model] = read_answers(file, model)
    for folder in sorted(p for p in (path / "model_judgment").glob("*") if p.is_dir()):
        judge = check_name(folder.name, "judge (the judgment folder's name)", str(folder))
        reviews: dict[str, Review] = {}
        judge_models: set[str] = set()
        baselines: set[str] = set()
        for file in sorted(folder.glob("*.jsonl")):
            for review, judge_model in read_judgments(file, judge, baseline):
                reviews[review.key] = review  # arena-hard keeps the last judgment of a question
                judge_models.add(judge_model)
                baselines.add(review.model_b)  # type: ignore[arg-type]
        if not reviews:
            imported.notes.append(f"{folder}: no judgments, skipped")
            continue
        imported.reviews[judge] = list(reviews.values())
        imported.judges[judge] = JudgeInfo(
            mode="pairwise-baseline",
            model=judge_models.pop() if len(judge_models) == 1 else judge,
            baseline=baselines.pop() if len(baselines) == 1 else None,
            strong_verdict_weight=strong_weight,
        )
    return imported


def _answer_text(content: Any, where: str) -> str:
    if isinstance(content, dict):
        content = content.get("answer")
    if not isinstance(content, str):
        raise DataError(f"{where}: messages: an assistant message's content is not text (expected a string or {{answer}})")
    return content


def read_answers(path: Path, model: str) -> list[Answer]:
    """One model's answers, in arena-hard's current format or its older FastChat-like one."""
    answers: dict[str, Answer] = {}
    for where, row in read_rows(path):
        if "messages" in row:
            answer = _answer_from_messages(row, model, where)
        elif "choices" in row:
            answer = _answer_from_choices(row, model, where)
        else:
            raise DataError(f"{where}: expected arena-hard's answer fields (uid, ans_id, model, messages) or the older choices")
        answers[str(answer.question_id)] = answer
    return list(answers.values())


def _answer_from_messages(row: dict[str, Any], model: str, where: str) -> Answer:
    messages = row["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise DataError(f"{where}: messages: expected a list of {{role, content}}")
    turns = [_answer_text(m.get("content"), where) for m in messages if m.get("role") == "assistant"]
    if not turns:
        raise DataError(f"{where}: messages: no assistant message (the model's answer)")
    tokens = (row.get("metadata") or {}).get("token_len") if isinstance(row.get("metadata"), dict) else None
    return Answer(
        question_id=question_id_of(row.get("uid"), where, "uid"),
        answer_id=str(row.get("ans_id", "")),
        model_id=str(row.get("model") or model),
        choices=[Choice(index=0, turns=turns)],
        tstamp=_number(row.get("tstamp")),
        output_tokens=[int(tokens)] if isinstance(tokens, int) and len(turns) == 1 else [],
    )


def _answer_from_choices(row: dict[str, Any], model: str, where: str) -> Answer:
    choices = row["choices"]
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise DataError(f"{where}: choices: expected a list of {{index, turns}}")
    out, tokens = [], []
    for i, choice in enumerate(choices):
        raw_turns = choice.get("turns")
        if not isinstance(raw_turns, list) or not raw_turns:
            raise DataError(f"{where}: choices[{i}].turns: expected a non-empty list")
        out.append(Choice(index=int(choice.get("index", i)), turns=[_answer_text(t.get("content") if isinstance(t, dict) else t, where) for t in raw_turns]))
        if i == 0:
            tokens = [t.get("token_len") for t in raw_turns if isinstance(t, dict)]
    return Answer(
        question_id=question_id_of(row.get("question_id", row.get("uid")), where),
        answer_id=str(row.get("answer_id", row.get("ans_id", ""))),
        model_id=str(row.get("model_id") or model),
        choices=out,
        tstamp=_number(row.get("tstamp")),
        output_tokens=tokens if len(out) == 1 and tokens and all(isinstance(t, int) for t in tokens) else [],
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def read_judgments(path: Path, judge: str, baseline: str | None) -> list[tuple[Review, str]]:
    """(review, judge model) for every game of one judgment file."""
    out = []
    for where, row in read_rows(path):
        model = model_name(row.get("model") or path.stem, "model", where)
        base = row.get("baseline", baseline)
        if base is None:
            raise DataError(f"{where}: baseline: not in the row; pass --baseline (arena-hard v0.1 judged against gpt-4-0314)")
        base = model_name(base, "baseline", where)
        if base == model:
            raise DataError(f"{where}: model: same model as the baseline ({model!r})")
        qid = question_id_of(row.get("uid", row.get("question_id")), where, "uid")
        games = row.get("games")
        if not isinstance(games, list) or not games:
            raise DataError(f"{where}: games: expected a list of one or two games")
        judge_model = row.get("judge") if isinstance(row.get("judge"), str) else judge
        # Game 1 shows the baseline as A, game 2 the model.
        for game, first in zip(games[:2], (base, model)):
            out.append((_game_review(judge, qid, model, base, first, game, row.get("tstamp")), judge_model))
    return out


def _game_review(judge: str, qid: Any, model: str, baseline: str, first: str, game: Any, tstamp: Any) -> Review:
    game = game if isinstance(game, dict) else {}
    score = game.get("score")
    verdict = parse_verdict(f"[[{score}]]", "five_level") if isinstance(score, str) else None
    judgment = game.get("judgment")
    raw = judgment.get("answer", "") if isinstance(judgment, dict) else judgment if isinstance(judgment, str) else ""
    prompt = game.get("prompt", game.get("user_prompt"))
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    winner = None
    if verdict is not None:
        score_a = verdict.first_score if first == model else 1.0 - verdict.first_score  # type: ignore[operator]
        winner = {1.0: "model_a", 0.0: "model_b", 0.5: "tie"}[score_a]
    return Review(
        judge=judge, template=TEMPLATE, mode="pairwise-baseline", question_id=qid, turn=1,
        model_a=model, model_b=baseline, first=first,
        prompt_hash=prompt_hash(prompt) if isinstance(prompt, list) and prompt else "",
        raw=raw, status="ok" if verdict is not None else "error",
        verdict=verdict.label if verdict is not None else None, winner=winner,  # type: ignore[arg-type]
        error=None if verdict is not None else f"arena-hard recorded no verdict (score {score!r})",
        tstamp=_number(tstamp),
    )
