"""Fixtures for the import tests: ../shared/data (skipped where absent) and small FastChat folders
written by hand in FastChat's published formats."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    return Path(os.environ.get("ARENA_SHARED_DATA", REPO / ".." / "shared" / "data"))


def need(relative: str) -> Path:
    """A path under ../shared/data, or skip the test saying where it was looked for."""
    path = shared_data() / relative
    if not path.exists():
        pytest.skip(f"{path} not found (../shared/data is absent; set ARENA_SHARED_DATA to its folder)")
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


QUESTIONS = [
    {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Now shorter."]},
    {"question_id": 111, "category": "math", "turns": ["What is 2+2?", "And 3+3?"], "reference": ["4", "6"]},
]


def answer_row(model: str, qid: int, texts: list[str]) -> dict[str, Any]:
    return {"question_id": qid, "answer_id": f"{model}-{qid}", "model_id": model,
            "choices": [{"index": 0, "turns": texts}], "tstamp": 1686000000.5}


def pair_row(qid: int, m1: str, m2: str, g1: str, g2: str, turn: int = 1, prompt: str = "pair-v2") -> dict[str, Any]:
    """A row of FastChat's model_judgment/<judge>_pair.jsonl (fields as gen_judgment.py writes them)."""
    verdict = {"model_1": "[[A]]", "model_2": "[[B]]", "tie": "[[C]]", "error": "no verdict"}
    swapped = {"model_1": "[[B]]", "model_2": "[[A]]", "tie": "[[C]]", "error": "no verdict"}
    return {
        "question_id": qid, "model_1": m1, "model_2": m2, "g1_winner": g1, "g2_winner": g2,
        "judge": ["gpt-4", prompt if turn == 1 else f"{prompt}-multi-turn"],
        "g1_user_prompt": f"[Question] {qid} A={m1} B={m2}", "g1_judgment": f"Game 1. {verdict.get(g1, g1)}",
        "g2_user_prompt": f"[Question] {qid} A={m2} B={m1}", "g2_judgment": f"Game 2. {swapped.get(g2, g2)}",
        "turn": turn, "tstamp": 1687000000.25,
    }


def single_row(qid: int, model: str, score: float, turn: int = 1) -> dict[str, Any]:
    return {"question_id": qid, "model": model, "judge": ["gpt-4", "single-v1"], "user_prompt": f"grade {model} {qid}",
            "judgment": f"Rating: [[{score}]]", "score": score, "turn": turn, "tstamp": 1687000001.0}


@pytest.fixture
def fastchat_dir(tmp_path: Path) -> Path:
    """A FastChat bench folder: 2 questions, 3 models, a pair file (with an error game and a
    swapped-order duplicate-free set of pairs) and a single file."""
    root = tmp_path / "mt_bench"
    write_jsonl(root / "question.jsonl", QUESTIONS)
    write_jsonl(root / "reference_answer" / "gpt-4.jsonl", [answer_row("gpt-4", 111, ["4", "6"])])
    for model in ("vicuna", "alpaca", "llama"):
        write_jsonl(root / "model_answer" / f"{model}.jsonl",
                    [answer_row(model, q["question_id"], [f"{model} says {t}" * (1 + len(model) % 3) for t in q["turns"]]) for q in QUESTIONS])
    write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", [
        pair_row(81, "vicuna", "alpaca", "model_1", "model_1"),
        pair_row(81, "vicuna", "llama", "model_1", "model_2"),
        pair_row(81, "alpaca", "llama", "tie", "error"),
        pair_row(111, "vicuna", "alpaca", "model_2", "model_2", prompt="pair-math-v1"),
        pair_row(81, "vicuna", "alpaca", "tie", "model_1", turn=2),
    ])
    write_jsonl(root / "model_judgment" / "gpt-4_single.jsonl", [
        single_row(81, "vicuna", 8), single_row(81, "alpaca", 6), single_row(81, "llama", -1),
        single_row(111, "vicuna", 9), single_row(111, "alpaca", 9),
    ])
    return root


ALPACA_BASELINE = "gpt4_1106_preview"
ALPACA_WEIGHTED = "weighted_alpaca_eval_gpt4_turbo"


def alpaca_results_folder(root: Path) -> Path:
    """AlpacaEval's `results/` folder as its repository lays it out, built from the published
    annotations in ../shared/data: for every model `results/<model>/model_outputs.json` and
    `results/<model>/<annotator>/annotations.json`, the baseline included, whose annotations
    compare it with itself (both outputs its own, every preference 1.5, no price or completion),
    exactly as AlpacaEval publishes `results/gpt4_1106_preview/.../annotations.json`."""
    source = need(f"alpaca-eval/annotations/{ALPACA_WEIGHTED}")
    results = root / "results"
    baseline_rows: dict[str, dict[str, Any]] = {}
    for file in sorted(source.glob("*.json")):
        rows = json.loads(file.read_text(encoding="utf-8"))
        model = rows[0]["generator_2"]
        folder = results / model / ALPACA_WEIGHTED
        folder.mkdir(parents=True)
        (folder / "annotations.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
        outputs = [{"dataset": r["dataset"], "instruction": r["instruction"], "output": r["output_2"], "generator": model} for r in rows]
        (results / model / "model_outputs.json").write_text(json.dumps(outputs, indent=2), encoding="utf-8")
        for r in rows:
            baseline_rows.setdefault(r["instruction"], {
                "instruction": r["instruction"], "output_1": r["output_1"], "generator_1": ALPACA_BASELINE,
                "dataset": r["dataset"], "output_2": r["output_1"], "generator_2": ALPACA_BASELINE,
                "annotator": ALPACA_WEIGHTED, "preference": 1.5, "price_per_example": None,
                "time_per_example": None, "raw_completion": None,
            })
    folder = results / ALPACA_BASELINE / ALPACA_WEIGHTED
    folder.mkdir(parents=True)
    (folder / "annotations.json").write_text(json.dumps(list(baseline_rows.values()), indent=2), encoding="utf-8")
    outputs = [{"dataset": r["dataset"], "instruction": r["instruction"], "output": r["output_1"], "generator": ALPACA_BASELINE}
               for r in baseline_rows.values()]
    (results / ALPACA_BASELINE / "model_outputs.json").write_text(json.dumps(outputs, indent=2), encoding="utf-8")
    return results
