"""AlpacaEval's annotation files in.

AlpacaEval publishes, per model and annotator, `annotations.json`: a JSON list with one object per
instruction: `instruction`, `dataset`, `output_1` by `generator_1` (the baseline), `output_2` by
`generator_2` (the model), `annotator`, `preference` (1 = output_1 preferred, 2 = output_2; in
between for annotators that weigh by the judge's token probabilities; 1.5, or 0 in older files,
a draw; empty where there is no verdict), `price_per_example`, `time_per_example` and
`raw_completion` (the judge's text or its API response).

PATH is one such file, or a folder searched for them: AlpacaEval's own `results/` folder as its
repository lays it out (`results/<model>/<annotator>/annotations.json` for every model and
annotator, beside `results/<model>/model_outputs.json`), or any folder of annotation files.
Model-output files (rows of `instruction`, `output`, `generator`: answers with no judgment) are
skipped with a note.

The baseline's own folder (`results/gpt4_1106_preview/<annotator>/annotations.json`) compares the
baseline with itself, every preference a draw: that is how AlpacaEval anchors its scale (the
baseline's leaderboard row, 50%). Such self-comparisons are not battles (a model cannot beat
itself); they are skipped with a note that counts them, and the baseline's answers and its place
as the judge's baseline are kept.

Questions are the instructions, numbered in order of first appearance over the files in path
order; AlpacaEval lists its 805 instructions in the same order in every file, so the numbers are
the `instruction_index` of its `preferences.csv`. Each annotation is one Review (model_a = the
model, model_b = the baseline) and one Battle whose outcome is the preference itself (2 -> 1, 1.5
-> 0.5, fractional kept), as `arena rate --format alpaca-eval` reads it. AlpacaEval randomises
which output the judge sees first and records only the de-randomised preference, so `first`
names output_1's model by convention and the bias report leaves position out for these judges.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.imports.common import ImportedRun, JudgeInfo, check_name, text_answer_id
from arena.judging.battles import style_of
from arena.records import Answer, Battle, Choice, Review

TEMPLATE = "alpaca_eval"
_REQUIRED = ("instruction", "output_1", "output_2", "generator_1", "generator_2", "preference")


def annotation_files(path: Path) -> list[Path]:
    """The .json files of PATH (itself, or every one under a folder, in path order)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if files:
            return files
        raise DataError(f"{path}: no .json files; expected AlpacaEval annotations (annotations.json)")
    raise DataError(f"{path}: not found")


def is_model_outputs(data: Any) -> bool:
    """Whether a parsed file is a model-outputs list (`results/<model>/model_outputs.json`:
    instruction, output, generator), which holds answers but no judgment."""
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return False
    first = data[0]
    return "output" in first and "generator" in first and "output_1" not in first


def load_annotations(path: Path) -> list[tuple[str, dict[str, Any]]] | None:
    """(where, annotation) for every annotation of one file, with the required fields checked;
    None for a model-outputs file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    if is_model_outputs(data):
        return None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of annotations, got {type(data).__name__}")
    out = []
    for i, row in enumerate(data):
        where = f"{path}: annotation {i}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise DataError(f"{where}: missing {', '.join(missing)} (AlpacaEval annotations have {', '.join(_REQUIRED)})")
        for key in ("instruction", "output_1", "output_2"):
            if not isinstance(row[key], str):
                raise DataError(f"{where}: {key}: expected a string")
        out.append((where, row))
    return out


def annotations_of(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Every annotation under PATH, in file order, and notes on the files skipped."""
    rows: list[tuple[str, dict[str, Any]]] = []
    skipped: list[Path] = []
    for file in annotation_files(path):
        loaded = load_annotations(file)
        if loaded is None:
            skipped.append(file)
        else:
            rows += loaded
    notes = []
    if skipped:
        notes.append(
            f"{path}: {len(skipped)} model-output file(s) skipped (answers with no judgment, e.g. {skipped[0].name})"
        )
    if not rows and skipped:
        raise DataError(f"{path}: only model-output files, no annotations; AlpacaEval's judgments are in <model>/<annotator>/annotations.json")
    return rows, notes


def self_comparison_note(path: Path, counts: dict[tuple[str, str], int]) -> str:
    """One line on the self-comparisons skipped: how many, whose, and why."""
    total = sum(counts.values())
    who = ", ".join(f"{model} by {judge} ({n})" for (judge, model), n in sorted(counts.items())[:4])
    more = f" and {len(counts) - 4} more" if len(counts) > 4 else ""
    return (
        f"{path}: {total} annotations compare a model with itself ({who}{more}): AlpacaEval's reference "
        "rows that anchor its scale (the baseline at 50%), skipped: a model cannot battle itself"
    )


def preference_of(row: dict[str, Any], where: str) -> float | None:
    """The preference as a number in [1, 2] (0, the older draw, read as 1.5); None for none."""
    value = row.get("preference")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where}: preference: {value!r} is not a number")
    value = float(value)
    if value == 0.0:
        return 1.5
    if not 1.0 <= value <= 2.0:
        raise DataError(f"{where}: preference: {value:g} is not 1 to 2 (1 output_1 preferred, 2 output_2, 1.5 or 0 a draw)")
    return value


def winner_of(preference: float) -> str:
    """The categorical verdict for model_a = generator_2 (the model)."""
    return "model_a" if preference > 1.5 else "model_b" if preference < 1.5 else "tie"


def preference_table(path: Path, *, annotator: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The annotations under PATH as rows of a preferences table (annotator, instruction_index,
    dataset, generator_1, generator_2, preference, len_output_1, len_output_2) with `where` for
    messages, for rating without importing; instructions are numbered as read_alpaca_eval
    numbers them. Self-comparisons stay in: the table's reader skips them with its note."""
    rows, notes = annotations_of(path)
    ids: dict[str, int] = {}
    table = []
    for where, row in rows:
        table.append({
            "annotator": check_name(row.get("annotator") or annotator, "annotator", where),
            "instruction_index": ids.setdefault(row["instruction"], len(ids)),
            "dataset": str(row.get("dataset") or ""),
            "generator_1": check_name(row["generator_1"], "generator_1", where),
            "generator_2": check_name(row["generator_2"], "generator_2", where),
            "preference": preference_of(row, where),
            "len_output_1": len(row["output_1"]),
            "len_output_2": len(row["output_2"]),
            "where": where,
        })
    return table, notes


def read_alpaca_eval(path: Path, *, annotator: str | None = None) -> ImportedRun:
    """AlpacaEval annotation files (see the module docstring) as an ImportedRun. `annotator`
    names the judge of files whose rows carry none."""
    path = Path(path)
    imported = ImportedRun(tool="alpaca-eval", source=path, questions=[])
    ids: dict[str, int] = {}
    outputs: dict[tuple[str, int], tuple[str, str]] = {}  # (model, question) -> (text, where)
    reviews: dict[str, dict[str, Review]] = {}
    battles: dict[str, dict[str, Battle]] = {}
    baselines: dict[str, set[str]] = {}
    self_compared: dict[tuple[str, str], int] = {}
    revised: dict[str, dict[int, str]] = {}  # model -> question -> where another output was met
    no_verdict = 0
    rows, notes = annotations_of(path)
    imported.notes += notes
    for where, row in rows:
        judge = check_name(row.get("annotator") or annotator, "annotator", where)
        model = check_name(row["generator_2"], "generator_2", where)
        baseline = check_name(row["generator_1"], "generator_1", where)
        qid = ids.setdefault(row["instruction"], len(ids))
        if qid == len(imported.questions):
            imported.questions.append({"question_id": qid, "category": str(row.get("dataset") or ""), "turns": [row["instruction"]]})
        shown = ((baseline, row["output_1"]),) if model == baseline else ((baseline, row["output_1"]), (model, row["output_2"]))
        for generator, output in shown:
            seen = outputs.setdefault((generator, qid), (output, where))
            if seen[0] != output:
                revised.setdefault(generator, {}).setdefault(qid, where)
        baselines.setdefault(judge, set()).add(baseline)
        if model == baseline:
            self_compared[(judge, model)] = self_compared.get((judge, model), 0) + 1
            continue
        preference = preference_of(row, where)
        review = _review(judge, qid, model, baseline, preference, row)
        previous = reviews.setdefault(judge, {}).get(review.key)
        if previous is not None:
            if previous.verdict != review.verdict:
                raise DataError(f"{where}: annotator {judge} judged {model} against {baseline} on this instruction twice, differently")
            continue
        reviews[judge][review.key] = review
        if preference is None:
            no_verdict += 1
            continue
        battles.setdefault(judge, {})[review.key] = Battle(
            question_id=qid, category=imported.questions[qid]["category"], model_a=model, model_b=baseline,
            winner=winner_of(preference), judge=judge, turn=1, outcome=preference - 1.0,  # type: ignore[arg-type]
            mode="pairwise-baseline", games=[winner_of(preference)],
            style_a=style_of(row["output_2"]), style_b=style_of(row["output_1"]),
        )
    for (model, qid), (text, _) in outputs.items():
        imported.answers.setdefault(model, []).append(
            Answer(question_id=qid, answer_id=text_answer_id(model, qid, [text]), model_id=model,
                   choices=[Choice(index=0, turns=[text])], tstamp=0.0)
        )
    for judge, only in baselines.items():
        imported.reviews[judge] = list(reviews.get(judge, {}).values())
        imported.battles[judge] = list(battles.get(judge, {}).values())
        imported.judges[judge] = JudgeInfo(
            mode="pairwise-baseline", model=judge, baseline=next(iter(only)) if len(only) == 1 else None,
            position_known=False,
        )
    if self_compared:
        imported.notes.append(self_comparison_note(path, self_compared))
    for model, places in sorted(revised.items()):
        qid, where = next(iter(places.items()))
        imported.notes.append(
            f"{path}: {model} has more than one output for {len(places)} instructions (first seen at "
            f"{outputs[(model, qid)][1]}, another at {where}), as when AlpacaEval revised a baseline's outputs between releases; "
            f"answers/{model}.jsonl keeps the first seen, every judgment is kept"
        )
    if no_verdict:
        imported.notes.append(f"{path}: {no_verdict} annotations have no preference; kept as error reviews, not battles")
    return imported


def _review(judge: str, qid: int, model: str, baseline: str, preference: float | None, row: dict[str, Any]) -> Review:
    raw = row.get("raw_completion")
    cost, seconds = row.get("price_per_example"), row.get("time_per_example")
    return Review(
        judge=judge, template=TEMPLATE, mode="pairwise-baseline", question_id=qid, turn=1,
        model_a=model, model_b=baseline, first=baseline, prompt_hash="",
        raw=raw if isinstance(raw, str) else "" if raw is None else json.dumps(raw, ensure_ascii=False),
        status="ok" if preference is not None else "error",
        verdict=repr(preference) if preference is not None else None,
        winner=winner_of(preference) if preference is not None else None,  # type: ignore[arg-type]
        error=None if preference is not None else "AlpacaEval recorded no preference",
        cost_usd=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost) else 0.0,
        latency_s=float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds) else 0.0,
    )
