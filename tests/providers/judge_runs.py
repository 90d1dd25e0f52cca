"""Helpers for the judge tests against the loopback fault server: a 500-call run config with
simulated candidates and a real (openai / anthropic wire) judge, and readers of its results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arena.records import Review
from arena.store import read_records

KEY_ENV = "ARENA_FAULT_TEST_KEY"
MODELS = 5  # 10 pairs x 2 orders = 20 judge calls per question
QUESTIONS = 25  # -> 500 judge calls


def write_questions(folder: Path, count: int = QUESTIONS) -> Path:
    path = folder / "questions.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            row = {"question_id": f"q{i}", "category": "writing", "turns": [f"Question {i}: explain topic number {i * 7 % 13}."]}
            handle.write(json.dumps(row) + "\n")
    return path


def judge_config(out: Path, questions: Path, cache: Path, *, provider: str, url: str, stream: bool,
                 model: str = "judge-model", timeout_s: float = 1.0, **client: Any) -> dict[str, Any]:
    return {
        "name": "faults",
        "output_dir": str(out),
        "seed": 0,
        "cache_dir": str(cache),
        "questions": str(questions),
        "models": [{"name": f"m{i}", "provider": "simulated", "simulated": {"strength": 1000 + 40 * i}} for i in range(MODELS)],
        "judges": [{
            "name": "judge",
            "provider": provider,
            "model": model,
            "mode": "pairwise-all",
            "template": "pairwise-abc",
            "generation": {"max_tokens": 64, "temperature": 0.0},
            "client": {"base_url": url, "api_key_env": KEY_ENV, "timeout_s": timeout_s, "max_concurrency": 16,
                       "max_retries": 6, "stream": stream, **client},
        }],
        "ratings": {"bootstrap": 20},
    }


def verdicts(out: Path, judge: str = "judge") -> dict[str, str | None]:
    return {r.key: r.verdict for r in read_records(out / "reviews" / f"{judge}.jsonl", Review)}


def reviews(out: Path, judge: str = "judge") -> list[Review]:
    return read_records(out / "reviews" / f"{judge}.jsonl", Review)
