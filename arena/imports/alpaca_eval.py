"""AlpacaEval's annotation files in.

AlpacaEval publishes, per model and annotator, `annotations.json`: a JSON list with one object per
instruction: `instruction`, `dataset`, `output_1` by `generator_1` (the baseline), `output_2` by
`generator_2` (the model), `annotator`, `preference` (1 = output_1 preferred, 2 = output_2; in
between for annotators that weigh by the judge's token probabilities; 1.5, or 0 in older files,
a draw; empty where there is no verdict), `price_per_example`, `time_per_example` and
`raw_completion` (the judge's text or its API response). PATH is one such file, or a folder
searched for them (AlpacaEval's `results/<model>/<annotator>/annotations.json`, or one file per
model).

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
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if files:
            return files
        raise DataError(f"{path}: no .json files; expected AlpacaEval annotations (annotations.json)")
    raise DataError(f"{path}: not found")


def load_annotations(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, annotation) for every annotation of one file, with the required fields checked."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
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
    no_verdict = 0
    for file in annotation_files(path):
        for where, row in load_annotations(file):
            judge = check_name(row.get("annotator") or annotator, "annotator", where)
            model = check_name(row["generator_2"], "generator_2", where)
            baseline = check_name(row["generator_1"], "generator_1", where)
            if model == baseline:
                raise DataError(f"{where}: generator_2: same model as generator_1 ({model!r})")
            qid = ids.setdefault(row["instruction"], len(ids))
            if qid == len(imported.questions):
                imported.questions.append({"question_id": qid, "category": str(row.get("dataset") or ""), "turns": [row["instruction"]]})
            for generator, output in ((baseline, row["output_1"]), (model, row["output_2"])):
                seen = outputs.setdefault((generator, qid), (output, where))
                if seen[0] != output:
                    raise DataError(f"{where}: {generator} has another output for this instruction at {seen[1]}; one answer per model and instruction")
            preference = preference_of(row, where)
            review = _review(judge, qid, model, baseline, preference, row)
            previous = reviews.setdefault(judge, {}).get(review.key)
            if previous is not None:
                if previous.verdict != review.verdict:
                    raise DataError(f"{where}: annotator {judge} judged {model} against {baseline} on this instruction twice, differently")
                continue
            reviews[judge][review.key] = review
            baselines.setdefault(judge, set()).add(baseline)
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
    for judge, rows in reviews.items():
        imported.reviews[judge] = list(rows.values())
        imported.battles[judge] = list(battles.get(judge, {}).values())
        only = baselines[judge]
        imported.judges[judge] = JudgeInfo(
            mode="pairwise-baseline", model=judge, baseline=next(iter(only)) if len(only) == 1 else None,
            position_known=False,
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
