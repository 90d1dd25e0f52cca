"""FastChat's llm_judge files (MT-Bench) in and out.

A FastChat bench folder (e.g. `fastchat/llm_judge/data/mt_bench/`) holds:

- `question.jsonl`: `question_id`, `category`, `turns` (and `reference` for some questions);
- `reference_answer/<model>.jsonl` and `model_answer/<model>.jsonl`: `question_id`, `answer_id`,
  `model_id`, `choices: [{index, turns}]`, `tstamp` (the model's name is the file's stem);
- `model_judgment/<judge>_pair.jsonl`: one row per pair, question and turn: `question_id`,
  `model_1`, `model_2`, `g1_winner`, `g2_winner` (game 1 shows model_1's answer as A, game 2
  model_2's; both winners are in model terms: `model_1`, `model_2`, `tie` or `error`), `judge`
  ([judge model, prompt name]), `g1_user_prompt`, `g1_judgment`, `g2_user_prompt`,
  `g2_judgment`, `turn`, `tstamp`. A row may instead carry one `winner` (what FastChat's own
  reader also accepts): one verdict whose shown order is unknown.
- `model_judgment/<judge>_single.jsonl`: `question_id`, `model`, `judge`, `user_prompt`,
  `judgment`, `score` (-1 where no rating was found), `turn`, `tstamp`.

Import: every file becomes our records (each game of a pair one Review, like our own judge
calls); the judge's name is the judgment file's stem (`gpt-4_pair`), its template the prompt
name of each row. Export writes a run back in these formats: questions and reference answers as
they were read (or as the run's config names them), answers with FastChat's fields only, and
judgments from our reviews. Two things do not survive the trip, because our reviews do not keep
them: the judges' user prompts (we keep the prompt's hash; FastChat's readers do not read the
prompts), and five-level strengths and fractional verdicts (FastChat has only win/tie/loss).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from arena.config import load_config
from arena.errors import ArenaError, DataError
from arena.imports.common import (
    QUESTION_FILE,
    REFERENCE_FILE,
    ImportedRun,
    JudgeInfo,
    check_name,
    first_row,
    model_name,
    question_id_of,
    read_rows,
)
from arena.judging.templates import prompt_hash
from arena.questions import REFERENCE_FILES, load_questions, resolve_question_file
from arena.records import Answer, Review, from_json
from arena.rundir import RunDir
from arena.store import read_jsonl, read_records, write_atomic

log = logging.getLogger(__name__)

PAIR_SUFFIX = "_pair"
SINGLE_SUFFIX = "_single"
# FastChat's winner labels of one game, per position of the model shown as A.
_GAME_WINNERS = ("model_1", "model_2", "tie", "error")


def read_fastchat(path: Path) -> ImportedRun:
    """A FastChat bench folder (see the module docstring) as an ImportedRun."""
    path = Path(path)
    if not (path / QUESTION_FILE).is_file():
        raise DataError(f"{path}: no {QUESTION_FILE}; expected a FastChat bench folder (question.jsonl, model_answer/, model_judgment/)")
    imported = ImportedRun(tool="fastchat", source=path, questions=read_question_rows(path / QUESTION_FILE))
    imported.references = _read_references(path / "reference_answer", imported.notes)
    for file in sorted((path / "model_answer").glob("*.jsonl")):
        model = check_name(file.stem, "model (the answer file's name)", str(file))
        imported.answers[model] = read_answers(file)
    for file in sorted((path / "model_judgment").glob("*.jsonl")):
        judge = check_name(file.stem, "judge (the judgment file's name)", str(file))
        kind = judgment_kind(file)
        if kind == "pair":
            reviews, info, notes = read_pair_judgments(file, judge)
        elif kind == "single":
            reviews, info, notes = read_single_judgments(file, judge)
        else:
            imported.notes.append(f"{file}: empty judgment file, skipped")
            continue
        imported.reviews[judge], imported.judges[judge] = reviews, info
        imported.notes += notes
    return imported


def read_question_rows(path: Path) -> list[dict[str, Any]]:
    """Question rows in FastChat's format (kept as published); arena-hard rows (`uid`, `prompt`
    or `turns: [{content}]`) are converted to it."""
    rows = []
    seen: set[str] = set()
    for where, row in read_rows(path):
        row = fastchat_question_row(row, where)
        key = str(row["question_id"])
        if key in seen:
            raise DataError(f"{where}: question_id: duplicate id {row['question_id']!r}")
        seen.add(key)
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no questions in the file")
    return rows


def fastchat_question_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    if "question_id" in row and "turns" in row:
        question_id_of(row["question_id"], where)
        turns = row["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise DataError(f"{where}: turns: expected a non-empty list of strings")
        return row
    if "uid" in row:
        qid = question_id_of(row["uid"], where, "uid")
        if isinstance(row.get("prompt"), str):
            turns = [row["prompt"]]
        elif isinstance(row.get("turns"), list):
            turns = [t.get("content") if isinstance(t, dict) else t for t in row["turns"]]
        else:
            turns = None
        if not turns or not all(isinstance(t, str) for t in turns):
            raise DataError(f"{where}: prompt: expected the question text (or turns: [{{content}}])")
        rest = {k: v for k, v in row.items() if k not in ("uid", "prompt", "turns", "category")}
        return {"question_id": qid, "category": str(row.get("category", "")), "turns": turns, **rest}
    raise DataError(f"{where}: expected a question row with question_id and turns (FastChat) or uid and prompt (arena-hard)")


def _read_references(folder: Path, notes: list[str]) -> list[dict[str, Any]]:
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        return []
    # FastChat's judges read the reference answers of gpt-4; with several files, that one.
    chosen = next((f for f in files if f.stem == "gpt-4"), files[0])
    if len(files) > 1:
        notes.append(f"{folder}: {len(files)} reference answer files; kept {chosen.name} (FastChat's judges read gpt-4's)")
    rows = []
    for where, row in read_rows(chosen):
        from_json(Answer, row, where)  # checks the fields; the row itself is kept as published
        rows.append(row)
    return rows


def read_answers(path: Path) -> list[Answer]:
    """One model's answers in FastChat's model-answer format."""
    answers: dict[str, Answer] = {}
    for where, row in read_rows(path):
        answer = from_json(Answer, row, where)
        question_id_of(answer.question_id, where)
        if not answer.choices:
            raise DataError(f"{where}: choices: expected at least one choice")
        answers[str(answer.question_id)] = answer  # FastChat keeps the last answer to a question
    return list(answers.values())


def judgment_kind(path: Path) -> str | None:
    """'pair' or 'single' from the first row's fields; None for an empty file."""
    first = first_row(path)
    if first is None:
        return None
    where, row = first
    if "model_1" in row:
        return "pair"
    if "model" in row and "score" in row:
        return "single"
    raise DataError(f"{where}: neither a FastChat pair judgment (model_1, model_2, g1_winner...) nor a single one (model, score)")


def _judge_of(row: dict[str, Any], default_model: str, where: str) -> tuple[str, str]:
    """(judge model, prompt name) from FastChat's `judge` field."""
    judge = row.get("judge")
    if isinstance(judge, (list, tuple)) and len(judge) == 2 and all(isinstance(x, str) for x in judge):
        return judge[0], judge[1]
    if isinstance(judge, str):
        return judge, "fastchat"
    if judge is None:
        return default_model, "fastchat"
    raise DataError(f"{where}: judge: expected [judge model, prompt name], got {judge!r}")


def judge_model_of(judge: str) -> str:
    """The judge model of a judgment file named FastChat's way (`gpt-4_pair` -> `gpt-4`)."""
    for suffix in (PAIR_SUFFIX, SINGLE_SUFFIX):
        if judge.endswith(suffix) and len(judge) > len(suffix):
            return judge[: -len(suffix)]
    return judge


def _turn_of(row: dict[str, Any], where: str) -> int:
    turn = row.get("turn", 1)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        raise DataError(f"{where}: turn: {turn!r} is not a turn number (an integer >= 1)")
    return turn


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)


def _hash_of(prompt: Any) -> str:
    return prompt_hash([{"role": "user", "content": _text(prompt)}]) if prompt else ""


def read_pair_judgments(path: Path, judge: str) -> tuple[list[Review], JudgeInfo, list[str]]:
    """Reviews (one per game) from a FastChat `*_pair.jsonl` file."""
    default_model = judge_model_of(judge)
    reviews: dict[str, Review] = {}
    models: set[str] = set()
    pairs: list[tuple[str, str]] = []
    judge_models: set[str] = set()
    unordered = replaced = 0
    for where, row in read_rows(path):
        model_1 = model_name(row.get("model_1"), "model_1", where)
        model_2 = model_name(row.get("model_2"), "model_2", where)
        if model_1 == model_2:
            raise DataError(f"{where}: model_2: same model as model_1 ({model_1!r}); a model cannot battle itself")
        qid = question_id_of(row.get("question_id"), where)
        turn = _turn_of(row, where)
        judge_model, template = _judge_of(row, default_model, where)
        judge_models.add(judge_model)
        models |= {model_1, model_2}
        pairs.append((model_1, model_2))
        games = []
        for game, first in (("g1", model_1), ("g2", model_2)):
            if f"{game}_winner" in row:
                games.append((first, row[f"{game}_winner"], row.get(f"{game}_judgment"), row.get(f"{game}_user_prompt"), f"{game}_winner"))
        if not games:
            if "winner" not in row:
                raise DataError(f"{where}: g1_winner: missing (expected g1_winner and g2_winner, or winner)")
            # One verdict of unknown order: filed under game 1's order (model_1 first).
            games.append((model_1, row["winner"], row.get("g1_judgment") or row.get("g2_judgment"), None, "winner"))
            unordered += 1
        for first, winner, judgment, prompt, key in games:
            if winner not in _GAME_WINNERS:
                raise DataError(f"{where}: {key}: {winner!r} is not one of {', '.join(_GAME_WINNERS)}")
            review = _pair_review(judge, template, qid, turn, model_1, model_2, first, winner, judgment, prompt, row.get("tstamp"))
            replaced += review.key in reviews
            reviews[review.key] = review  # FastChat's readers keep the last row of a game
    notes = []
    if replaced:
        notes.append(f"{path}: {replaced} games appear more than once; kept the last of each (as FastChat does)")
    if unordered:
        notes.append(f"{path}: {unordered} rows carry one 'winner' without the shown order; position bias is not reported for {judge}")
    baseline = _baseline_of(pairs, models)
    info = JudgeInfo(
        mode="pairwise-baseline" if baseline else "pairwise-all",
        model=judge_models.pop() if len(judge_models) == 1 else default_model,
        baseline=baseline,
        position_known=unordered == 0,
    )
    out = list(reviews.values())
    for r in out:
        r.mode = info.mode
    return out, info, notes


def _baseline_of(pairs: list[tuple[str, str]], models: set[str]) -> str | None:
    """The model in every pair, where there is one and at least two others (FastChat's
    pairwise-baseline mode); None for pairwise-all."""
    if len(models) < 3 or not pairs:
        return None
    common = set(pairs[0]).intersection(*(set(p) for p in pairs[1:]))
    return next(iter(common)) if len(common) == 1 else None


def _pair_review(judge: str, template: str, qid: Any, turn: int, model_1: str, model_2: str, first: str,
                 winner: str, judgment: Any, prompt: Any, tstamp: Any) -> Review:
    ok = winner != "error"
    model_winner = {"model_1": "model_a", "model_2": "model_b", "tie": "tie"}.get(winner)
    verdict = None
    if ok:
        shown_first_won = (winner == "model_1") == (first == model_1)
        verdict = "tie" if winner == "tie" else ("A" if shown_first_won else "B")
    return Review(
        judge=judge, template=template, mode="pairwise-all", question_id=qid, turn=turn,
        model_a=model_1, model_b=model_2, first=first, prompt_hash=_hash_of(prompt), raw=_text(judgment),
        status="ok" if ok else "error", verdict=verdict, winner=model_winner,  # type: ignore[arg-type]
        error=None if ok else "FastChat recorded no verdict (error)",
        tstamp=float(tstamp) if isinstance(tstamp, (int, float)) and not isinstance(tstamp, bool) else 0.0,
    )


def read_single_judgments(path: Path, judge: str) -> tuple[list[Review], JudgeInfo, list[str]]:
    """Reviews from a FastChat `*_single.jsonl` file (a score of -1 is a grading without a
    rating: an error review)."""
    default_model = judge_model_of(judge)
    reviews: dict[str, Review] = {}
    judge_models: set[str] = set()
    replaced = 0
    for where, row in read_rows(path):
        model = model_name(row.get("model"), "model", where)
        qid = question_id_of(row.get("question_id"), where)
        turn = _turn_of(row, where)
        judge_model, template = _judge_of(row, default_model, where)
        judge_models.add(judge_model)
        score = row.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise DataError(f"{where}: score: {score!r} is not a number (FastChat writes -1 where no rating was found)")
        ok = score != -1
        tstamp = row.get("tstamp")
        review = Review(
            judge=judge, template=template, mode="single", question_id=qid, turn=turn, model_a=model, model_b=None,
            first=model, prompt_hash=_hash_of(row.get("user_prompt")), raw=_text(row.get("judgment")),
            status="ok" if ok else "error", verdict=f"{score:g}" if ok else None, score=float(score) if ok else None,
            error=None if ok else "FastChat recorded no rating (score -1)",
            tstamp=float(tstamp) if isinstance(tstamp, (int, float)) and not isinstance(tstamp, bool) else 0.0,
        )
        replaced += review.key in reviews
        reviews[review.key] = review
    notes = [f"{path}: {replaced} gradings appear more than once; kept the last of each (as FastChat does)"] if replaced else []
    info = JudgeInfo(mode="single", model=judge_models.pop() if len(judge_models) == 1 else default_model)
    return list(reviews.values()), info, notes


# --- export ------------------------------------------------------------------------------------


def export_fastchat(run_dir: Path, out_dir: Path, *, questions: Path | None = None) -> dict[str, Any]:
    """Write a run folder in FastChat's formats under `out_dir`; returns what was written."""
    run = RunDir(Path(run_dir))
    if not run.root.is_dir():
        raise DataError(f"{run.root}: run folder not found")
    out = Path(out_dir)
    question_rows, references = run_questions(run, questions)
    written: dict[str, Any] = {"question.jsonl": len(question_rows)}
    write_atomic(out / QUESTION_FILE, _lines(question_rows))
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in references:
        by_model[str(row.get("model_id") or "reference")].append(row)
    for model, rows in by_model.items():
        write_atomic(out / "reference_answer" / f"{model}.jsonl", _lines(rows))
        written[f"reference_answer/{model}.jsonl"] = len(rows)
    for path in sorted((run.root / "answers").glob("*.jsonl")):
        rows = [answer_row(a) for a in read_records(path, Answer)]
        write_atomic(out / "model_answer" / path.name, _lines(rows))
        written[f"model_answer/{path.name}"] = len(rows)
    judge_models = _judge_models(run)
    imported = _imported_judges(run)
    for path in sorted((run.root / "reviews").glob("*.jsonl")):
        reviews = read_records(path, Review)
        if not reviews:
            continue
        judge = path.stem
        model = judge_models.get(judge, judge_model_of(judge))
        if all(r.model_b is None for r in reviews):
            name = judge if judge.endswith(SINGLE_SUFFIX) else judge + SINGLE_SUFFIX
            rows = [single_row(r, model) for r in reviews]
        elif any(r.model_b is None for r in reviews):
            raise DataError(f"{path}: mixes single gradings and pairwise games; FastChat keeps them in separate files")
        else:
            name = judge if judge.endswith(PAIR_SUFFIX) else judge + PAIR_SUFFIX
            rows = pair_rows(reviews, model, position_known=imported.get(judge, {}).get("position_known", True) is not False)
        write_atomic(out / "model_judgment" / f"{name}.jsonl", _lines(rows))
        written[f"model_judgment/{name}.jsonl"] = len(rows)
    return written


def _lines(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _manifest(run: RunDir) -> dict[str, Any]:
    if not run.manifest.exists():
        return {}
    try:
        data = json.loads(run.manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{run.manifest}: not valid JSON ({exc.msg} at line {exc.lineno}); restore or delete it") from None
    return data if isinstance(data, dict) else {}


def _imported_judges(run: RunDir) -> dict[str, dict[str, Any]]:
    judges = _manifest(run).get("judges") or {}
    return {name: info for name, info in judges.items() if isinstance(info, dict)}


def _judge_models(run: RunDir) -> dict[str, str]:
    """Judge name -> judge model: from an import's manifest, or a pipeline run's summary."""
    models = {name: info["model"] for name, info in _imported_judges(run).items() if isinstance(info.get("model"), str)}
    for name, info in (run.read_summary().get("reviews") or {}).items():
        if isinstance(info, dict) and isinstance(info.get("model"), str):
            models.setdefault(name, info["model"])
    return models


def answer_row(answer: Answer) -> dict[str, Any]:
    """FastChat's model-answer fields of one answer (our token counts and timings left out)."""
    return {
        "question_id": answer.question_id,
        "answer_id": answer.answer_id,
        "model_id": answer.model_id,
        "choices": [{"index": c.index, "turns": c.turns} for c in answer.choices],
        "tstamp": answer.tstamp,
    }


def single_row(review: Review, judge_model: str) -> dict[str, Any]:
    return {
        "question_id": review.question_id,
        "model": review.model_a,
        "judge": [judge_model, review.template],
        "judgment": review.raw,
        "score": review.score if review.status == "ok" and review.score is not None else -1,
        "turn": review.turn,
        "tstamp": review.tstamp,
    }


def pair_rows(reviews: list[Review], judge_model: str, *, position_known: bool = True) -> list[dict[str, Any]]:
    """One FastChat row per (question, turn, pair): game 1 is the review that showed model_a
    first, game 2 the one that showed model_b first. A pair judged in one order only gets a
    `winner` beside that game's fields (FastChat's reader takes `winner` first); where the shown
    order is unknown (`position_known` false, e.g. AlpacaEval's), only the `winner`."""
    groups: dict[tuple, dict[str, Review]] = defaultdict(dict)
    order: list[tuple] = []
    for r in reviews:
        key = (str(r.question_id), r.turn, r.model_a, r.model_b)
        if key not in groups:
            order.append(key)
        groups[key][r.first] = r
    rows = []
    for key in order:
        games = groups[key]
        any_review = next(iter(games.values()))
        model_1, model_2 = any_review.model_a, any_review.model_b
        g1, g2 = games.get(model_1), games.get(model_2)  # type: ignore[arg-type]
        row: dict[str, Any] = {"question_id": any_review.question_id, "model_1": model_1, "model_2": model_2}
        if g1 is None or g2 is None:
            row["winner"] = _fastchat_winner(g1 or g2)  # type: ignore[arg-type]
            if not position_known:
                g1, g2 = g1 or g2, None  # its text goes where a reader looks first
        if g1 is not None and (position_known or g2 is not None):
            row["g1_winner"] = _fastchat_winner(g1)
        if g2 is not None:
            row["g2_winner"] = _fastchat_winner(g2)
        row["judge"] = [judge_model, any_review.template]
        row["g1_judgment"] = g1.raw if g1 is not None else ""
        row["g2_judgment"] = g2.raw if g2 is not None else ""
        row["turn"] = any_review.turn
        row["tstamp"] = max(r.tstamp for r in games.values())
        rows.append(row)
    return rows


def _fastchat_winner(review: Review) -> str:
    if review.status != "ok" or review.winner is None:
        return "error"
    return {"model_a": "model_1", "model_b": "model_2"}.get(review.winner, "tie")


def run_questions(run: RunDir, override: Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The question rows and reference-answer rows of a run: from `override` (a question file),
    from the run folder (imports write them there), or from the question set its config names."""
    if override is not None:
        path = Path(override)
        if path.is_dir():
            path = path / QUESTION_FILE
        if not path.is_file():
            raise DataError(f"{override}: question file not found")
        return read_question_rows(path), _references_beside(path)
    if (run.root / QUESTION_FILE).is_file():
        refs = run.root / REFERENCE_FILE
        return read_question_rows(run.root / QUESTION_FILE), [row for _, row in read_jsonl(refs)] if refs.is_file() else []
    config_path = _manifest(run).get("config")
    if not config_path:
        raise DataError(f"{run.root}: no {QUESTION_FILE} and no config in run.json; pass --questions (the question file of this run)")
    try:
        config = load_config(config_path)
        qconfig = config.questions_config
        base = config.source_path.parent
        source = resolve_question_file(qconfig.source, base, str(config.source_path))
        selected = {str(q.question_id) for q in load_questions(qconfig, base, str(config.source_path))}
    except ArenaError as exc:
        raise DataError(f"{run.root}: cannot read the questions through the run's config ({exc}); pass --questions") from None
    rows = [r for r in read_question_rows(source) if str(r["question_id"]) in selected]
    reference = Path(qconfig.reference) if qconfig.reference else None
    if reference is not None and not reference.is_absolute() and not reference.is_file():
        reference = base / reference
    refs = [row for _, row in read_jsonl(reference)] if reference is not None else _references_beside(source)
    return rows, [r for r in refs if str(r.get("question_id")) in selected]


def _references_beside(question_file: Path) -> list[dict[str, Any]]:
    """Reference answers next to a question file: our run/registry names, or FastChat's folder."""
    folder = question_file.parent
    for name in REFERENCE_FILES:
        if (folder / name).is_file():
            return [row for _, row in read_jsonl(folder / name)]
    return _read_references(folder / "reference_answer", [])
